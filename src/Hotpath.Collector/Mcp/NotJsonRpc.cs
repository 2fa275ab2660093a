using System.Text.Json.Nodes;

namespace Hotpath.Collector.Mcp;

/// <summary>
/// A POST to <c>/mcp</c> whose body is not JSON. The MCP SDK's endpoint takes <c>application/json</c> only, so such a
/// request fell through to the collector's 404 ("no route answers POST /mcp"), which reads as a wrong address; it
/// gets a JSON-RPC error in MCP's own shape instead, with 415.
/// </summary>
public static class NotJsonRpc
{
    /// <summary>After the SDK's endpoint: it answers only what that one's content type refused.</summary>
    public const int Order = 1;

    public static IResult Answer(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var error = new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = null,
            ["error"] = new JsonObject
            {
                ["code"] = -32600, // Invalid Request
                ["message"] = $"Unsupported Media Type: an MCP request is a JSON-RPC message sent as application/json, not {context.Request.ContentType ?? "a body without a content type"}",
            },
        };
        return Results.Text(error.ToJsonString(), "application/json", statusCode: StatusCodes.Status415UnsupportedMediaType);
    }
}
