using System.Globalization;
using System.Text.Json;
using Hotpath.Pprof;
using Hotpath.Testing;

namespace Hotpath.Cli.Tests;

/// <summary>find, merge, get and top against a collector holding the three real CPU profiles, stamped 10 minutes ago.</summary>
public sealed class QueryCommandTests : IAsyncLifetime
{
    private readonly string _service = CollectorInstance.NewServiceName();
    private readonly List<string> _ids = [];
    private CollectorInstance _collector = null!;

    public async Task InitializeAsync()
    {
        _collector = await CollectorInstance.StartAsync();
        var at = TestClock.UtcNow.AddMinutes(-10);
        for (var i = 0; i < TestData.CpuProfiles.Count; i++)
        {
            var meta = await _collector.PostOkAsync(_service, "cpu", ProfileBytes.WithTime(TestData.CpuProfiles[i], at.AddSeconds(i)), "&labels=version%3D1.4");
            _ids.Add(meta.GetProperty("id").GetString()!);
        }

        await _collector.PostOkAsync(_service, "heap", ProfileBytes.WithTime("heap_1.pb.gz", at), "&labels=version%3D1.3");
    }

    public async Task DisposeAsync() => await _collector.DisposeAsync();

    private string Window => $"/api/0/profiles?service={_service}&from={ProfileBytes.Format(TestClock.UtcNow.AddHours(-1))}&to={ProfileBytes.Format(TestClock.UtcNow.AddMinutes(1))}";

    [Fact]
    public async Task Find_prints_a_table_of_the_matching_profiles()
    {
        var result = await CliRunner.RunAsync(_collector, "find", "--service", _service, "--type", "cpu", "--since", "1h", "--label", "version=1.4");

        Assert.Equal(0, result.ExitCode);
        Assert.All(_ids, id => Assert.Contains(id, result.Output));
        Assert.Contains("version=1.4", result.Output);
        Assert.Contains("3 profiles", result.Output);
    }

    [Fact]
    public async Task Find_json_prints_what_the_api_answers()
    {
        var result = await CliRunner.RunAsync(_collector, "find", "-s", _service, "--since", "1h", "--json");
        using var api = await _collector.GetAsync(Window);
        var expected = (await CollectorInstance.ReadEnvelopeAsync(api)).GetProperty("body");

        using var printed = JsonDocument.Parse(result.Output);
        Assert.True(JsonElement.DeepEquals(expected, printed.RootElement.GetProperty("body")), result.Output);
        Assert.Equal(4, printed.RootElement.GetProperty("body").GetArrayLength());
    }

    [Fact]
    public async Task Import_and_find_with_a_tenant_act_for_that_tenant_alone()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("hotpath-tenant-").FullName, "cpu_1.pb.gz");
        await File.WriteAllBytesAsync(file, ProfileBytes.WithTime("cpu_1.pb.gz", TestClock.UtcNow.AddMinutes(-5)));

        var imported = await CliRunner.RunAsync(_collector, "import", file, "--service", _service, "--type", "cpu", "--tenant", "acme");
        var asAcme = await CliRunner.RunAsync(_collector, "find", "-s", _service, "--since", "1h", "--json", "--tenant", "acme");
        var asDefault = await CliRunner.RunAsync(_collector, "find", "-s", _service, "--since", "1h", "--json");

        Assert.True(imported.ExitCode == 0, imported.Error);
        using var acme = JsonDocument.Parse(asAcme.Output);
        Assert.Equal(1, acme.RootElement.GetProperty("body").GetArrayLength());
        using var others = JsonDocument.Parse(asDefault.Output);
        Assert.Equal(4, others.RootElement.GetProperty("body").GetArrayLength()); // the default tenant's four, not acme's
    }

    [Theory]
    [InlineData("{version=~\"1\\\\.[34]\"}", 4)]
    [InlineData("{version!=\"1.4\"}", 1)]
    [InlineData("{version!~\"1\\\\..*\"}", 0)]
    public async Task Find_with_a_label_selector_lists_what_the_selector_picks(string selector, int expected)
    {
        var result = await CliRunner.RunAsync(_collector, "find", "-s", _service, "--since", "1h", "--query", selector);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains(expected == 0 ? "No profiles match" : $"{expected} profile", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Find_with_no_match_says_so_and_succeeds()
    {
        var result = await CliRunner.RunAsync(_collector, "find", "-s", _service, "--since", "1h", "--label", "version=9");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("No profiles match", result.Output);
    }

    [Fact]
    public async Task Find_shows_each_profiles_instance_id()
    {
        var service = CollectorInstance.NewServiceName();
        await _collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_1.pb.gz", TestClock.UtcNow.AddMinutes(-1)), "&instance_id=pod-7f9c");

        var result = await CliRunner.RunAsync(_collector, "find", "-s", service);

        Assert.Contains("instance_id", result.Output);
        Assert.Contains("pod-7f9c", result.Output);
    }

    [Fact]
    public async Task Find_with_no_match_names_the_window_it_searched_and_how_to_widen_it()
    {
        var result = await CliRunner.RunAsync(_collector, "find", "-s", _service, "--from", "2026-11-01T10:00:00", "--to", "2026-11-01T12:00:00");

        Assert.Contains("2026-11-01 10:00:00 .. 2026-11-01 12:00:00 UTC (2 hours)", result.Output);
        Assert.Contains("--since 24h", result.Output);
    }

    [Theory]
    [InlineData("find")]
    [InlineData("top")]
    [InlineData("merge")]
    public async Task An_unknown_type_is_refused_with_the_list_of_types_before_anything_is_asked(string command)
    {
        var result = await CliRunner.RunAsync(_collector, command, "-s", _service, "--type", "memory");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--type: unknown profile type \"memory\"; the types are cpu, heap, block, mutex, goroutine, threadcreate, other, trace, wall", result.Error);
    }

    [Fact]
    public async Task Merge_writes_the_same_profile_the_api_merges()
    {
        var file = Path.GetTempFileName();
        var result = await CliRunner.RunAsync(_collector, "merge", "-s", _service, "-t", "cpu", "--since", "1h", "-o", file);
        var api = await _collector.GetProfileAsync($"/api/0/profiles/merge?service={_service}&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00");

        var written = new ProfileDecoder().Decode(await File.ReadAllBytesAsync(file));
        File.Delete(file);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(api, written);
        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f])), written.Totals());
    }

    [Fact]
    public async Task Get_writes_the_stored_bytes_and_merges_several_ids()
    {
        var one = Path.GetTempFileName();
        var two = Path.GetTempFileName();

        var single = await CliRunner.RunAsync(_collector, "get", _ids[0], "-o", one);
        var several = await CliRunner.RunAsync(_collector, "get", _ids[0], _ids[1], "-o", two);

        Assert.Equal(0, single.ExitCode);
        Assert.Equal(0, several.ExitCode);
        Assert.Equal(await _collector.Http.GetByteArrayAsync("/api/0/profiles/" + _ids[0]), await File.ReadAllBytesAsync(one));
        Assert.Equal(TestData.Sum([TestData.Totals["cpu_1.pb.gz"], TestData.Totals["cpu_2.pb.gz"]]), new ProfileDecoder().Decode(await File.ReadAllBytesAsync(two)).Totals());
        File.Delete(one);
        File.Delete(two);
    }

    [Fact]
    public async Task Top_flat_values_add_up_to_the_merged_total_and_the_hottest_function_leads()
    {
        var result = await CliRunner.RunAsync(_collector, "top", "-s", _service, "-t", "cpu", "--since", "1h", "-n", "100000", "--raw");

        Assert.Equal(0, result.ExitCode);
        var rows = result.Output.Split('\n').Skip(2).Select(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(c => c.Length >= 6).ToList();
        var total = TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f]))[1];
        Assert.Equal(total, rows.Sum(c => long.Parse(c[0], CultureInfo.InvariantCulture)));
        Assert.Equal("crypto/sha256.block", rows[0][5]);
        Assert.Contains("Type: cpu (nanoseconds)", result.Output);
    }

    [Fact]
    public async Task Top_prints_a_long_dotnet_name_whole_on_its_row()
    {
        var service = CollectorInstance.NewServiceName();
        const string Name = "Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.HttpProtocol.ProcessRequests<Microsoft.AspNetCore.Hosting.HostingApplication.Context>";
        var profile = SyntheticProfiles.DeepStack(2);
        profile.StringTable[(int)profile.Function[0].Name] = Name;
        profile.TimeNanos = UnixNanos.From(TestClock.UtcNow.AddMinutes(-1));
        await _collector.PostOkAsync(service, "cpu", ProfileEncoder.ToGzipBytes(profile));

        var result = await CliRunner.RunAsync(_collector, "top", "-s", service, "-t", "cpu");

        Assert.Equal(0, result.ExitCode);
        var row = Assert.Single(result.Output.Split('\n'), line => line.Contains("Kestrel", StringComparison.Ordinal));
        Assert.EndsWith("  " + Name, row.TrimEnd());
    }

    [Fact]
    public async Task Top_ranks_by_the_sample_type_asked_for()
    {
        var result = await CliRunner.RunAsync(_collector, "top", "-s", _service, "-t", "cpu", "--since", "1h", "--sample-type", "samples", "-n", "3");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Type: samples (count)", result.Output);
        Assert.Contains("1340 total", result.Output);
    }

    [Fact]
    public async Task Top_keeps_the_samples_of_a_sample_label_and_groups_by_one()
    {
        var service = CollectorInstance.NewServiceName();
        var (body, hash, sort) = LabeledProfiles.Workers(TestClock.UtcNow.AddMinutes(-1));
        await _collector.PostOkAsync(service, "cpu", body);

        var filtered = await CliRunner.RunAsync(_collector, "top", "-s", service, "-t", "cpu", "--sample-label", "worker=sort", "--raw");
        var grouped = await CliRunner.RunAsync(_collector, "top", "-s", service, "-t", "cpu", "--group-by", "worker", "--raw", "-n", "1000");
        var bad = await CliRunner.RunAsync(_collector, "top", "-s", service, "-t", "cpu", "--sample-label", "worker");

        Assert.Equal(0, filtered.ExitCode);
        Assert.Contains($"of {sort} total", filtered.Output);
        Assert.DoesNotContain("crypto/sha256.block", filtered.Output);
        Assert.Contains($"{hash + sort} total", grouped.Output);
        Assert.Matches($@"\s0\s+0\.00%\s+\S+\s+{hash}\s+\S+\s+worker=hash", grouped.Output);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("is not key=value", bad.Error + bad.Output);
    }

    [Fact]
    public async Task Folded_stacks_sum_to_the_merged_total()
    {
        var result = await CliRunner.RunAsync(_collector, "top", "-s", _service, "-t", "heap", "--since", "1h", "--folded", "--sample-type", "alloc_space");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => Assert.Matches(@"^\S.* -?\d+$", l));
        Assert.Equal(TestData.Totals["heap_1.pb.gz"][1], lines.Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task A_collector_error_is_shown_with_its_text()
    {
        var result = await CliRunner.RunAsync(_collector, "merge", "-s", "nobody-" + _service, "-t", "cpu", "-o", Path.GetTempFileName());

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("hotpath: 404 Not Found: nothing found", result.Error);
    }

    [Fact]
    public async Task An_unreachable_collector_is_named()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await CliApp.RunAsync(["find", "-s", "x", "--collector", $"http://127.0.0.1:{CollectorProcess.FreePort()}"], output, error);

        Assert.Equal(1, code);
        Assert.Contains("cannot reach the collector at http://127.0.0.1:", error.ToString());
    }

    [Fact]
    public async Task Every_command_explains_itself_with_an_example()
    {
        foreach (var command in new[] { "import", "find", "merge", "get", "top", "scrape", "agent" })
        {
            using var output = new StringWriter();
            var code = await CliApp.RunAsync([command, "--help"], output, TextWriter.Null);

            Assert.Equal(0, code);
            Assert.Contains("Example: hotpath " + command, output.ToString());
            Assert.Contains("--collector", output.ToString());
        }
    }
}
