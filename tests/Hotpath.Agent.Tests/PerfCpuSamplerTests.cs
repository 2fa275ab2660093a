using Hotpath.Agent.Perf;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Testing;

namespace Hotpath.Agent.Tests;

/// <summary>The perf-event CPU sampler on a real .NET process (examples/HotApp), alone on the machine as the other share tests are.</summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection("sampling")]
public sealed class PerfCpuSamplerTests
{
    /// <summary>The process's user + system CPU time so far, by the kernel's count (/proc/PID/stat).</summary>
    private static long CpuNanoseconds(int pid) => ProcessCpuTime.Nanoseconds(pid) ?? throw new InvalidOperationException($"process {pid}'s CPU time cannot be read");

    [Fact]
    public async Task Continuous_samples_name_hotapps_hot_method_on_top_with_the_share_it_was_built_for_and_the_kernels_cpu_time()
    {
        await using var hotApp = HotAppProcess.Start(seconds: 60);
        Assert.True(PerfCpuSampler.TryEnablePerfMap(hotApp.Id, out var why), why);
        using var sampler = PerfCpuSampler.TryStart([hotApp.Id], PerfCpuSampler.DefaultFrequency, out var refusal)
            ?? throw new InvalidOperationException(refusal);
        sampler.Cut(); // from here on
        var before = CpuNanoseconds(hotApp.Id);

        await Task.Delay(TimeSpan.FromSeconds(12));
        var (pid, profile) = Assert.Single(sampler.Cut());
        var used = CpuNanoseconds(hotApp.Id) - before;

        Assert.Equal(hotApp.Id, pid);
        var top = TopTable.Build(profile, 1);
        var summary = $"{top.Total / 1e6:0} ms of cpu for {used / 1e6:0} ms used; lost {sampler.Lost}; "
            + string.Join(", ", top.Rows.Take(8).Select(r => $"{r.Function} {100.0 * r.Flat / top.Total:0.0}%/{100.0 * r.Cumulative / top.Total:0.0}%"));
        Assert.True(top.Rows[0].Function == "HotApp.Work.Checksum", summary);
        var checksum = HotAppExpectations.ChecksumShareOfBusyLoop(profile, 1);
        Assert.True(Math.Abs(checksum - 60) <= 5, $"Checksum should have 60% ± 5 of the busy loop, has {checksum:0.0}%: {summary}");
        // The profile's CPU time is the process's, within 10%.
        Assert.True(Math.Abs(top.Total - used) <= 0.1 * used, summary);
        Assert.Equal(["samples/count", "cpu/nanoseconds"], profile.SampleTypeNames());
        Assert.Equal(1_000_000_000 / PerfCpuSampler.DefaultFrequency, profile.Period);
        // Compiled three times (quick JIT, OSR, tier 1), one function.
        var perfMap = File.ReadAllLines($"/tmp/perf-{hotApp.Id}.map");
        Assert.True(perfMap.Count(l => l.Contains("HotApp.Work::Checksum(", StringComparison.Ordinal)) >= 2, "Checksum was compiled once only");
        var function = Assert.Single(profile.Function, f => profile.StringTable[(int)f.Name] == "HotApp.Work.Checksum");
        // From HotApp's PDB, as the EventPipe sampler gives it.
        Assert.EndsWith(Path.Combine("examples", "HotApp", "Work.cs"), profile.StringTable[(int)function.Filename]);
        // The runtime's native frames, by module (its internal functions have no symbols in the shipped library).
        Assert.Contains(top.Rows, r => r.Function.StartsWith("libcoreclr.so", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_eventpipe_windows_cpu_time_is_the_kernels_count_not_more_cores_than_the_machine_has()
    {
        await using var hotApp = HotAppProcess.Start(seconds: 60);
        var before = CpuNanoseconds(hotApp.Id);
        var started = DateTimeOffset.UtcNow;

        var recorded = await ProfileSession.RecordAsync(hotApp.Id, ProfileKinds.Cpu, TimeSpan.FromSeconds(4), CancellationToken.None);

        var used = CpuNanoseconds(hotApp.Id) - before;
        var elapsed = (DateTimeOffset.UtcNow - started).Ticks * 100;
        var profile = Assert.Single(recorded).Profile;
        // Compared as cores: the profile's over its period, the kernel's over the whole call around it.
        var profileCores = (double)profile.Totals()[1] / profile.DurationNanos;
        var kernelCores = (double)used / elapsed;
        Assert.True(Math.Abs(profileCores - kernelCores) <= 0.1 * kernelCores, $"profile {profileCores:0.00} cores, kernel {kernelCores:0.00}");
        Assert.True(profileCores <= Environment.ProcessorCount, $"{profileCores:0.00} cores on a {Environment.ProcessorCount}-core machine");
    }
}
