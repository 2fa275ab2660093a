namespace Hotpath.Collector.Hosting;

/// <summary>
/// Endpoint metadata of the API's routes: such an endpoint needs the read token for GET and HEAD and the
/// write token for any other method, whenever that token is configured. Carried by the endpoint itself, so
/// every spelling that routing maps to it (any casing, any escaping) meets the same check.
/// </summary>
public sealed class ApiAccess
{
    private readonly bool _readsOnly;

    public static ApiAccess Protected { get; } = new(readsOnly: false);

    /// <summary>An endpoint that only reads whatever its method (a Connect query is a POST): the read token.</summary>
    public static ApiAccess ReadsOnly { get; } = new(readsOnly: true);

    private ApiAccess(bool readsOnly) => _readsOnly = readsOnly;

    /// <summary>True when a request of this method writes, and so needs the write token.</summary>
    public bool Writes(string method) => !_readsOnly && !HttpMethods.IsGet(method) && !HttpMethods.IsHead(method);
}
