using System.Text.Json;

namespace Hotpath.Testing;

/// <summary>
/// A Connect client of Pyroscope's <c>querier.v1.QuerierService</c> that no one here wrote: the service's .proto
/// (src/Hotpath.Pprof/Protos/pyroscope) generated into JavaScript by Buf's own <c>buf generate</c> with
/// <c>protoc-gen-es</c>, called with <c>@connectrpc/connect-node</c> (all from npm, installed by test.sh into
/// .test-tools), in binary protobuf with gzip both ways as Grafana's client calls, or in Connect JSON as
/// Drilldown and Perses do. Each call runs node once and reads the answer as protobuf JSON.
/// </summary>
public sealed class ConnectQuerierClient
{
    private static readonly Lazy<Task<string>> Generated = new(GenerateAsync);

    private static string Tools => Path.Combine(TestData.ProjectRoot, ".test-tools");

    private static string Modules => Path.Combine(Tools, "node_modules");

    private readonly Uri _baseAddress;
    private readonly bool _binary;
    private readonly string? _token;
    private readonly string? _tenant;

    /// <param name="tenant">Sent as X-Scope-OrgID, as Grafana's data source sends its tenant; null: none.</param>
    public ConnectQuerierClient(Uri baseAddress, bool binary, string? token = null, string? tenant = null) =>
        (_baseAddress, _binary, _token, _tenant) = (baseAddress, binary, token, tenant);

    /// <summary>Calls a method (its lowerCamel name, e.g. <c>selectMergeStacktraces</c>) with a request in protobuf JSON.</summary>
    /// <returns>The answer in protobuf JSON, or the Connect error's code name (<c>InvalidArgument</c>) and message.</returns>
    public async Task<(JsonElement? Answer, string? ErrorCode, string? ErrorMessage)> CallAsync(string method, object request)
    {
        var generated = await Generated.Value;
        var run = await ToolRun.RunAsync("node", [Path.Combine(generated, "call.js"), _baseAddress.ToString().TrimEnd('/'), method,
                JsonSerializer.Serialize(request), _binary ? "binary" : "json"], generated,
            new Dictionary<string, string> { ["NODE_PATH"] = Modules, ["TOKEN"] = _token ?? "", ["TENANT"] = _tenant ?? "" });
        if (run.ExitCode != 0)
            throw new InvalidOperationException($"the Connect client failed ({run.ExitCode}): {run.Output}{run.Error}");
        using var result = JsonDocument.Parse(run.Output);
        if (result.RootElement.TryGetProperty("error", out var error))
            return (null, error.GetProperty("code").GetString(), error.GetProperty("message").GetString());
        return (result.RootElement.GetProperty("ok").Clone(), null, null);
    }

    /// <summary>Generates the client code once per test run, in a folder of its own, with the calling script beside it.</summary>
    private static async Task<string> GenerateAsync()
    {
        var buf = Path.Combine(Modules, ".bin", "buf");
        if (!File.Exists(buf))
            throw new InvalidOperationException($"{buf} is missing: test.sh installs @bufbuild/buf, @bufbuild/protoc-gen-es and @connectrpc/connect-node");
        var directory = Directory.CreateTempSubdirectory("hotpath-connect-client-").FullName;
        var template = Path.Combine(directory, "buf.gen.yaml");
        await File.WriteAllTextAsync(template, $"""
            version: v2
            plugins:
              - local: {Path.Combine(Modules, ".bin", "protoc-gen-es")}
                out: {Path.Combine(directory, "gen")}
                opt: [target=js, js_import_style=legacy_commonjs]
            """);
        var protos = Path.Combine(TestData.ProjectRoot, "src", "Hotpath.Pprof", "Protos");
        var generate = await ToolRun.RunAsync(buf, ["generate", ".", "--path", "pyroscope", "--path", "profile.proto", "--template", template], protos);
        if (generate.ExitCode != 0)
            throw new InvalidOperationException($"buf generate failed: {generate.Output}{generate.Error}");
        await File.WriteAllTextAsync(Path.Combine(directory, "call.js"), """
            const { createClient, ConnectError, Code } = require("@connectrpc/connect");
            const { createConnectTransport, compressionGzip } = require("@connectrpc/connect-node");
            const { fromJson, toJson } = require("@bufbuild/protobuf");
            const { QuerierService } = require("./gen/pyroscope/querier_pb.js");
            const [baseUrl, method, request, format] = process.argv.slice(2);
            const binary = format === "binary";
            const transport = createConnectTransport({
              baseUrl, httpVersion: "1.1", useBinaryFormat: binary,
              sendCompression: binary ? compressionGzip : undefined, acceptCompression: binary ? [compressionGzip] : [], compressMinBytes: 0,
              interceptors: [(next) => async (req) => { if (process.env.TOKEN) req.header.set("Authorization", "Bearer " + process.env.TOKEN); if (process.env.TENANT) req.header.set("X-Scope-OrgID", process.env.TENANT); return next(req); }],
            });
            const client = createClient(QuerierService, transport);
            const schema = QuerierService.method[method];
            client[method](fromJson(schema.input, JSON.parse(request)))
              .then((answer) => console.log(JSON.stringify({ ok: toJson(schema.output, answer) })))
              .catch((e) => { const error = ConnectError.from(e); console.log(JSON.stringify({ error: { code: Code[error.code], message: error.rawMessage } })); });
            """);
        return directory;
    }
}
