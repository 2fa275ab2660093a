using Hotpath.Testing;

namespace Hotpath.Cli.Tests;

public sealed class ImportCommandTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private CollectorInstance Collector => fixture.Collector;

    [Fact]
    public async Task Importing_the_corpus_stores_every_good_file_and_reports_each_bad_one_with_its_reason()
    {
        var service = CollectorInstance.NewServiceName();

        var result = await CliRunner.RunAsync(Collector, "import", "--service", service, "--type", "cpu", "--label", "region=eu", "--label", "host=b1",
            TestData.PathOf("cpu_1.pb.gz"), TestData.PathOf("garbage.bin"), TestData.PathOf("cpu_2.pb.gz"), TestData.PathOf("cpu_empty.pb.gz"), TestData.PathOf("cpu_3.pb.gz"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Imported 3, skipped 0 already stored and 1 without samples, failed 1 of 5 files", result.Output);
        Assert.Contains("garbage.bin: 400 Bad Request: malformed profile (", result.Error);
        Assert.DoesNotContain("cpu_empty.pb.gz", result.Error);
        var stored = await Collector.FindAllAsync(service);
        Assert.Equal(3, stored.Count);
        Assert.All(stored, p => Assert.Equal("[{\"key\":\"host\",\"value\":\"b1\"},{\"key\":\"region\",\"value\":\"eu\"}]", p.GetProperty("labels").GetRawText()));
    }

    [Fact]
    public async Task Profiles_without_samples_are_skipped_and_are_no_failure()
    {
        // profefe's agent writes one such profile a minute for each type that had nothing to sample.
        var service = CollectorInstance.NewServiceName();

        var result = await CliRunner.RunAsync(Collector, "import", "--service", service, "--type", "cpu", TestData.PathOf("cpu_1.pb.gz"), TestData.PathOf("cpu_empty.pb.gz"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Imported 1, skipped 0 already stored and 1 without samples, failed 0 of 2 files", result.Output);
        Assert.Single(await Collector.FindAllAsync(service));
    }

    [Fact]
    public async Task Re_running_with_skip_existing_uploads_nothing_twice()
    {
        var service = CollectorInstance.NewServiceName();
        string[] args = ["import", "--service", service, "--type", "cpu", "--label", "batch=1", "--skip-existing", .. TestData.CpuProfiles.Select(TestData.PathOf)];

        var first = await CliRunner.RunAsync(Collector, args);
        var second = await CliRunner.RunAsync(Collector, args);

        Assert.Equal(0, first.ExitCode);
        Assert.Contains("Imported 3, skipped 0", first.Output);
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("Imported 0, skipped 3 already stored", second.Output);
        Assert.Equal(3, (await Collector.FindAllAsync(service)).Count);
    }

    [Fact]
    public async Task Mtime_dates_a_profile_that_has_no_time_of_its_own()
    {
        var service = CollectorInstance.NewServiceName();
        var file = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".pb.gz");
        await File.WriteAllBytesAsync(file, ProfileBytes.WithTime("cpu_1.pb.gz", null));
        File.SetLastWriteTimeUtc(file, new DateTime(2024, 2, 3, 4, 5, 6, DateTimeKind.Utc));

        var result = await CliRunner.RunAsync(Collector, "import", "-s", service, "-t", "cpu", "--mtime", file);
        File.Delete(file);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("2024-02-03T04:05:06Z", Assert.Single(await Collector.FindAllAsync(service)).GetProperty("created_at").GetString());
    }

    [Fact]
    public void Globs_with_double_star_and_question_mark_pick_the_matching_files()
    {
        var files = ImportCommand_Expand(
            [Path.Combine(TestData.Directory, "cpu_?.pb.gz"), Path.Combine(TestData.Directory, "..", "**", "heap_*.pb.gz")], out var missing);

        Assert.Empty(missing);
        Assert.Equal(["cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz", "heap_1.pb.gz", "heap_2.pb.gz"], files.Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task A_missing_file_is_reported_and_the_others_still_import()
    {
        var service = CollectorInstance.NewServiceName();

        var result = await CliRunner.RunAsync(Collector, "import", "-s", service, "-t", "heap", "/no/such/file.pb.gz", TestData.PathOf("heap_1.pb.gz"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("/no/such/file.pb.gz: no such file or folder", result.Error);
        Assert.Single(await Collector.FindAllAsync(service));
    }

    [Fact]
    public async Task An_unknown_type_is_refused_before_anything_is_sent()
    {
        var result = await CliRunner.RunAsync(Collector, "import", "-s", "x", "-t", "CPU", TestData.PathOf("cpu_1.pb.gz"));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("unknown profile type \"CPU\"", result.Error);
    }

    private static List<string> ImportCommand_Expand(string[] patterns, out List<string> missing) =>
        Commands.ImportCommand.Expand(patterns, out missing);
}
