using System.Security.Cryptography;
using System.Text;
using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Service;
using Hotpath.Storage;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Api;

/// <summary>
/// The one place where failures become profefe error envelopes, bearer tokens are checked (on endpoints
/// that carry <see cref="ApiAccess"/>, never by path text), the request's tenant is set (<see cref="RequestTenant"/>:
/// its token's, else its X-Scope-OrgID's), and requests are counted. It runs after routing
/// has chosen the endpoint. Endpoints and the services they call just throw: <see cref="ApiException"/> or a
/// domain error, which <see cref="ApiException.Of"/> turns into the profefe API's status and words.
/// </summary>
public sealed class ApiMiddleware(RequestDelegate next, CollectorMetrics metrics, IOptions<AuthOptions> auth,
    IOptions<CollectorOptions> collector, ILogger<ApiMiddleware> logger)
{
    private readonly byte[]? _writeToken = TokenBytes(auth.Value.WriteToken);
    private readonly byte[]? _readToken = TokenBytes(auth.Value.ReadToken);
    private readonly TenantTokenMap _tenantWriteTokens = new(auth.Value.Tenants, t => t.WriteToken);
    private readonly TenantTokenMap _tenantReadTokens = new(auth.Value.Tenants, t => t.ReadToken);

    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            if (Authorize(context) is not { } access)
            {
                await ReplyAsync(context, StatusCodes.Status401Unauthorized, "unauthorized: missing or wrong bearer token");
                return;
            }

            if (access.Protected)
            {
                var named = TenantName.Parse(context.Request.Headers[RequestTenant.Header], RequestTenant.Header);
                if (access.Tenant is { } bound && named.Length > 0 && named != bound)
                {
                    await ReplyAsync(context, StatusCodes.Status403Forbidden, $"forbidden: the bearer token is tenant \"{bound}\"'s, not \"{named}\"'s");
                    return;
                }

                context.RequestServices.GetRequiredService<RequestTenant>().Name = access.Tenant ?? named;
            }

            await next(context);
        }
        catch (Exception e) when (e is not (StorageUnavailableException or DecodeBudgetExhaustedException) && ApiException.Of(e) is { } refusal)
        {
            await ReplyAsync(context, refusal.Status, refusal.Message, hint: refusal.Hint);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413RequestEntityTooLarge)
        {
            await ReplyAsync(context, e.StatusCode, ProfilesApi.BodyTooLarge(collector.Value.MaxBodySize).Message);
        }
        catch (BadHttpRequestException e)
        {
            await ReplyAsync(context, e.StatusCode, "bad request: " + e.Message);
        }
        catch (StorageUnavailableException e)
        {
            Log.StorageUnavailable(logger, e.Backend, context.Request.Method, context.Request.Path, e);
            var refusal = ApiException.StorageUnavailable(e);
            await ReplyAsync(context, refusal.Status, refusal.Message);
        }
        catch (DecodeBudgetExhaustedException e)
        {
            Log.DecodeBudgetExhausted(logger, context.Request.Method, context.Request.Path, e.TotalBytes);
            var refusal = ApiException.Busy(e);
            await ReplyAsync(context, refusal.Status, refusal.Message, retryAfter: "1");
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
        catch (Exception e)
        {
            Log.RequestFailed(logger, context.Request.Method, context.Request.Path, e);
            await ReplyAsync(context, StatusCodes.Status500InternalServerError, "internal server error");
        }
        finally
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            metrics.Requests.WithLabels(route, context.Request.Method, context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        }
    }

    /// <summary>Whether the request may go on, and as which tenant when its token binds one; null: unauthorized.</summary>
    private Access? Authorize(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<ApiAccess>() is not { } access)
            return new Access(Protected: false, Tenant: null);
        var writes = access.Writes(context.Request.Method);
        var required = writes ? _writeToken : _readToken;
        var tenants = writes ? _tenantWriteTokens : _tenantReadTokens;
        if (required is null && !tenants.Any)
            return new Access(Protected: true, Tenant: null);

        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        var token = header[Scheme.Length..].Trim();
        if (tenants.TenantOf(token) is { } tenant)
            return new Access(Protected: true, tenant);
        return required is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), required)
            ? new Access(Protected: true, Tenant: null)
            : null;
    }

    /// <param name="Protected">An API endpoint (one with <see cref="ApiAccess"/>): it acts for a tenant.</param>
    /// <param name="Tenant">The tenant the request's token is bound to, or null.</param>
    private readonly record struct Access(bool Protected, string? Tenant);

    private static async Task ReplyAsync(HttpContext context, int status, string message, string? retryAfter = null, string? hint = null)
    {
        if (context.Response.HasStarted)
        {
            context.Abort(); // a half-sent download cannot become an error envelope
            return;
        }

        context.Response.Clear();
        if (GrpcStatus.IsGrpc(context.Request))
        {
            // gRPC's "trailers-only" answer: the status travels in the headers of an empty 200.
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = ((int)GrpcStatus.FromHttp(status)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
            return;
        }

        if (context.GetEndpoint()?.Metadata.GetMetadata<ConnectEndpoint>() is not null)
        {
            // Connect's shape, with its own Retry-After and WWW-Authenticate.
            await ConnectUnary.Error(context, new ApiException(status, message, hint)).ExecuteAsync(context);
            return;
        }

        if (retryAfter is not null)
            context.Response.Headers.RetryAfter = retryAfter;
        if (status == StatusCodes.Status401Unauthorized)
            context.Response.Headers.WWWAuthenticate = "Bearer";
        await ApiResults.WriteErrorAsync(context, status, message, hint);
    }

    private static byte[]? TokenBytes(string? token) => string.IsNullOrEmpty(token) ? null : Encoding.UTF8.GetBytes(token);
}
