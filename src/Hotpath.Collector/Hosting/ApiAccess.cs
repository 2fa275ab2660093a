namespace Hotpath.Collector.Hosting;

/// <summary>
/// Endpoint metadata of the API's routes: such an endpoint needs the read token for GET and HEAD and the
/// write token for any other method, whenever that token is configured. Carried by the endpoint itself, so
/// every spelling that routing maps to it (any casing, any escaping) meets the same check.
/// </summary>
public sealed class ApiAccess
{
    public static ApiAccess Protected { get; } = new();

    private ApiAccess() { }

    /// <summary>True when a request of this method writes, and so needs the write token.</summary>
    public static bool Writes(string method) => !HttpMethods.IsGet(method) && !HttpMethods.IsHead(method);
}
