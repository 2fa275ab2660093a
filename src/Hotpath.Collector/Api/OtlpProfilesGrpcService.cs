using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Hotpath.Collector.Api.Otlp;
using Hotpath.Collector.Hosting;
using Hotpath.Service.Ingest;

namespace Hotpath.Collector.Api;

/// <summary>
/// The gRPC side of OTLP profiles (<c>ProfilesService/Export</c>), served on
/// <see cref="Hosting.CollectorOptions.OtlpGrpcAddress"/>. Bound by <see cref="Methods"/> rather than by the
/// generated base class, so that a request that does not parse is INVALID_ARGUMENT (as OTLP/HTTP's 400), not
/// the UNKNOWN and error log of an exception thrown in the handler.
/// </summary>
public sealed class OtlpProfilesGrpcService(OtlpIngest otlp, CollectorMetrics metrics)
{
    private const string ServiceName = "opentelemetry.proto.collector.profiles.v1development.ProfilesService";

    /// <summary>The path of the one method, for the frame guard in front of it.</summary>
    public const string ExportPath = "/" + ServiceName + "/Export";

    public async Task<ExportProfilesServiceResponse> Export(ExportProfilesServiceRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            // gRPC parsed the request before this runs (bounded by MaxReceiveMessageSize); its tree is reserved now.
            var size = request.CalculateSize();
            metrics.BytesReceived.Inc(size);
            using (otlp.ReserveParsed(size))
                await otlp.ExportAsync(request.ResourceProfiles, request.Dictionary, context.CancellationToken);
            return new ExportProfilesServiceResponse();
        }
        catch (Exception e) when (OtlpApi.Refusal(e) is { } refusal)
        {
            throw new RpcException(new Status(GrpcStatus.FromHttp(refusal.Status), refusal.Message));
        }
    }

    /// <summary>Binds <see cref="Export"/> with a request marshaller that refuses what does not parse as INVALID_ARGUMENT.</summary>
    public sealed class Methods : IServiceMethodProvider<OtlpProfilesGrpcService>
    {
        private static readonly Method<ExportProfilesServiceRequest, ExportProfilesServiceResponse> Export = new(MethodType.Unary, ServiceName, "Export",
            Marshallers.Create(r => r.ToByteArray(), Parse),
            Marshallers.Create(r => r.ToByteArray(), ExportProfilesServiceResponse.Parser.ParseFrom));

        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<OtlpProfilesGrpcService> context)
        {
            ArgumentNullException.ThrowIfNull(context);
            context.AddUnaryMethod(Export, [], (service, request, call) => service.Export(request, call));
        }

        private static ExportProfilesServiceRequest Parse(byte[] message)
        {
            try
            {
                return ExportProfilesServiceRequest.Parser.ParseFrom(message);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"not an OTLP profiles export request: {e.Message}"));
            }
        }
    }
}
