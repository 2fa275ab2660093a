using System.Diagnostics;
using System.Runtime.CompilerServices;
using Hotpath.Agent.Spans;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Testing;

namespace Hotpath.Agent.Tests;

/// <summary>Self-profiling through EventPipe; alone, so that other tests' threads do not share the window.</summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection(Name)]
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProfileSessionTests
{
    private const string Name = "sampling";
    private static readonly object Gate = new();
    private static long _allocated;

    /// <summary>A busy method with a name to find in profiles (NetTraceReaderTests keeps a thread busy with it too).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static double BurnCpu(CancellationToken stop)
    {
        var x = 0.0;
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < 100_000; i++)
                x += Math.Sqrt(i);
        }

        return x;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AllocateArrays(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < 64; i++)
                GC.KeepAlive(new long[1024]);
            Interlocked.Add(ref _allocated, 64 * (1024 * sizeof(long) + 24));
            Thread.Sleep(1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WaitForTheGate(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            lock (Gate)
                Thread.Sleep(3);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowAndCatch(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                throw new InvalidOperationException("expected");
            }
            catch (InvalidOperationException)
            {
                Thread.Sleep(1);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SleepInNaps(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
            Thread.Sleep(20);
    }

    /// <summary>Runs the workload on its own threads while a window of this process is recorded.</summary>
    private static async Task<IReadOnlyList<RecordedProfile>> RecordWhileAsync(ProfileKinds kinds, Action<CancellationToken> work, int threads = 1, bool allocationTicksOnly = false)
    {
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() => work(stop.Token)) { IsBackground = true }).ToList();
        workers.ForEach(t => t.Start());
        try
        {
            return await ProfileSession.RecordAsync(Environment.ProcessId, kinds, TimeSpan.FromSeconds(3), allocationTicksOnly, CancellationToken.None);
        }
        finally
        {
            await stop.CancelAsync();
            workers.ForEach(t => t.Join());
        }
    }

    private static Profile RoundTrip(RecordedProfile recorded) => new ProfileDecoder().Decode(ProfileEncoder.ToGzipBytes(recorded.Profile));

    private static string Summary(TopTable top) =>
        $"total {top.Total}: " + string.Join(", ", top.Rows.Take(5).Select(r => $"{r.Function} {r.Flat}"));

    [Fact]
    public async Task A_cpu_window_of_this_process_names_the_busy_method_among_the_top_three_with_a_clear_share()
    {
        var recorded = await RecordWhileAsync(ProfileKinds.Cpu, stop => BurnCpu(stop));

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Cpu));
        var top = TopTable.Build(profile, TopTable.SampleTypeIndex(profile, "cpu"));
        var burn = top.Rows.Single(r => r.Function.EndsWith("ProfileSessionTests.BurnCpu", StringComparison.Ordinal));
        // A whole core of the window, while the test host's other threads (thread pool spinning, sockets)
        // and, under the test command, other test processes share the 2 cores: a clear share, near the top.
        Assert.True(burn.Flat > 0.15 * top.Total, Summary(top));
        Assert.True(top.Rows.Take(3).Contains(burn), Summary(top));
        Assert.InRange(profile.DurationNanos, 2_500_000_000, 30_000_000_000);
        Assert.Equal(["samples", "cpu"], profile.SampleType.Select(t => profile.StringTable[(int)t.Type]));
    }

    [Fact]
    public async Task A_wall_window_holds_a_busy_thread_s_time_as_running_and_a_sleeping_one_s_as_waiting_under_its_threads_name()
    {
        var recorded = await RecordWhileAsync(ProfileKinds.Wall, stop =>
        {
            // Two threads of the workload: one burns a core, the other sleeps; both are on the wall all window long.
            var sleeper = new Thread(() => SleepInNaps(stop)) { IsBackground = true, Name = "nap-taker" };
            sleeper.Start();
            BurnCpu(stop);
            sleeper.Join();
        });

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Wall));
        Assert.Equal(["samples", "wall"], profile.SampleType.Select(t => profile.StringTable[(int)t.Type]));
        long WallOf(string function, string state, string label = "state")
        {
            var selected = new SampleSelection([KeyValuePair.Create(label, state)], null).Apply(profile);
            var top = TopTable.Build(selected, 1);
            return top.Rows.SingleOrDefault(r => r.Function.EndsWith(function, StringComparison.Ordinal))?.Cumulative ?? 0;
        }

        var window = profile.DurationNanos;
        var (burning, burnWaiting) = (WallOf("ProfileSessionTests.BurnCpu", "running"), WallOf("ProfileSessionTests.BurnCpu", "waiting"));
        var (sleeping, sleepRunning) = (WallOf("ProfileSessionTests.SleepInNaps", "waiting"), WallOf("ProfileSessionTests.SleepInNaps", "running"));
        var summary = $"window {window}: BurnCpu running {burning} waiting {burnWaiting}; SleepInNaps waiting {sleeping} running {sleepRunning}";
        // Each thread's samples add up to the window it was sampled in (the first sample of each counts 1 ms).
        Assert.InRange(sleeping + sleepRunning, 0.7 * window, 1.1 * window);
        Assert.InRange(burning + burnWaiting, 0.7 * window, 1.1 * window);
        Assert.True(sleeping > 0.95 * (sleeping + sleepRunning), summary);
        Assert.True(burning > 0.8 * (burning + burnWaiting), summary);
        // The sleeper's samples carry the name the operating system has for its thread (Linux: the runtime sets it).
        if (OperatingSystem.IsLinux())
            Assert.True(WallOf("ProfileSessionTests.SleepInNaps", "nap-taker", label: "thread_name") > 0.95 * (sleeping + sleepRunning), summary);
    }

    [Fact]
    public async Task A_block_window_charges_dot_result_with_the_time_the_threads_measured_themselves_blocked_there()
    {
        // Two threads each spend a third of their time burning a core and the rest blocked on .Result of a
        // 60 ms call, measuring that themselves; a third thread keeps the cores busy, so .Result spins a while first.
        long blockedTicks = 0, elapsedTicks = 0, waits = 0;
        var workers = 0;
        var recorded = await RecordWhileAsync(ProfileKinds.Block, stop =>
        {
            if (Interlocked.Increment(ref workers) == 3)
            {
                BurnCpu(stop);
                return;
            }

            var started = Stopwatch.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                BurnFor(TimeSpan.FromMilliseconds(30));
                var waiting = Stopwatch.GetTimestamp();
                WaitOnResult(60);
                Interlocked.Add(ref blockedTicks, Stopwatch.GetTimestamp() - waiting);
                Interlocked.Increment(ref waits);
            }

            Interlocked.Add(ref elapsedTicks, Stopwatch.GetTimestamp() - started);
        }, threads: 3);

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Block));
        Assert.Equal(["contentions", "delay"], profile.SampleType.Select(t => profile.StringTable[(int)t.Type]));
        var top = TopTable.Build(profile, 1);
        var wait = top.Rows.Single(r => r.Function.EndsWith("ProfileSessionTests.WaitOnResult", StringComparison.Ordinal));
        var measured = 2.0 * blockedTicks / elapsedTicks;
        var profiled = (double)wait.Cumulative / profile.DurationNanos;
        var counted = TopTable.Build(profile, 0).Rows.Single(r => r.Function == wait.Function).Cumulative;
        var (measuredEach, profiledEach) = (blockedTicks * 1e9 / Stopwatch.Frequency / waits, (double)wait.Cumulative / counted);
        var summary = $"measured {measured:0.000} threads blocked, {measuredEach / 1e6:0.0} ms a wait; the block profile {profiled:0.000}, {profiledEach / 1e6:0.0} ms a wait; " + Summary(top);
        Assert.True(Math.Abs(profiled - measured) <= 0.15 * measured, summary);
        // Each wait counted once (.Result blocks in a wait handle after spinning: one wait, not two).
        Assert.True(Math.Abs(profiledEach - measuredEach) <= 0.15 * measuredEach, summary);
        // The wait is charged to the call that blocked, not to the events' writing.
        Assert.DoesNotContain(top.Rows, r => r.Function.StartsWith("System.Diagnostics.Tracing.", StringComparison.Ordinal) && r.Flat > 0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int WaitOnResult(int milliseconds) =>
        Task.Delay(milliseconds).ContinueWith(_ => 1, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Result;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool WaitOnHandle(int milliseconds)
    {
        using var never = new ManualResetEvent(false);
        return never.WaitOne(milliseconds);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void BurnFor(TimeSpan time)
    {
        var until = Stopwatch.GetTimestamp() + (long)(time.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until)
        {
            // Spinning on the clock: CPU, not a wait.
        }
    }

    [Fact]
    public async Task Blocking_that_starves_the_thread_pool_is_labelled_with_the_pools_injections_and_worker_count()
    {
        // More pool work items blocked on .Result than the pool has threads: it injects threads for starvation.
        var blocked = ThreadPool.ThreadCount + 4;
        var recording = ProfileSession.RecordAsync(Environment.ProcessId, ProfileKinds.Block | ProfileKinds.Wall, TimeSpan.FromSeconds(4), CancellationToken.None);
        await Task.Delay(500);
        // Blocked in a wait handle, not in a task's wait: the pool adds threads for the latter at once
        // (cooperative blocking), for the former only when queued work starves.
        var items = Enumerable.Range(0, blocked).Select(_ => Task.Run(() => WaitOnHandle(2_500))).ToArray();
        var recorded = await recording;
        await Task.WhenAll(items);

        var block = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Block));
        var waits = block.Sample.Where(s => s.LocationId.Any(l => FunctionOf(block, l).EndsWith("ProfileSessionTests.WaitOnHandle", StringComparison.Ordinal))).ToList();
        var summary = string.Join("; ", waits.Select(s => $"{Label(block, s, "threadpool_adjustment")}/{Label(block, s, "threadpool_workers")}: {s.Value[1] / 1e6:0} ms"));
        // Some waits began after the pool started injecting for them, with more workers than before.
        Assert.Contains(waits, s => Label(block, s, "threadpool_adjustment") == "starvation");
        var workers = waits.Select(s => Label(block, s, "threadpool_workers")).OfType<string>().Select(int.Parse).ToList();
        Assert.True(workers.Count > 0 && workers.Max() > workers.Min(), summary);
        // The wall profile's samples are labelled the same way.
        var wall = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Wall));
        Assert.Contains(wall.Sample, s => Label(wall, s, "threadpool_adjustment") == "starvation");
    }

    [Fact]
    public async Task Samples_taken_inside_a_span_carry_its_local_root_s_id_trace_and_name_across_the_threads_its_request_hops_to()
    {
        // Requests, one after another, each a root span with a child span: CPU on the thread that starts it,
        // then, after an await that resumes on a pool thread, CPU in the child span there.
        using var source = new ActivitySource("Hotpath.Agent.Tests.Spans");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var spans = new SpanTimeline();
        var requests = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(); // span id → trace id
        var hops = 0;
        using var stop = new CancellationTokenSource();
        async Task RequestAsync()
        {
            using var request = source.StartActivity("GET /orders/{id}")!;
            requests[request.SpanId.ToHexString()] = request.TraceId.ToHexString();
            var thread = Environment.CurrentManagedThreadId;
            BeforeTheHop(TimeSpan.FromMilliseconds(30));
            await Task.Delay(5);
            if (Environment.CurrentManagedThreadId != thread)
                Interlocked.Increment(ref hops);
            // Nothing sets the current activity on this thread: the execution context brought it.
            AfterTheHop(TimeSpan.FromMilliseconds(30));
            using (source.StartActivity("SELECT orders"))
                InTheChildSpan(TimeSpan.FromMilliseconds(30));
        }

        var serving = Task.Run(async () =>
        {
            // Each request starts on a thread of its own and resumes on a pool thread.
            while (!stop.IsCancellationRequested)
                await Task.Factory.StartNew(RequestAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        });

        IReadOnlyList<RecordedProfile> recorded;
        try
        {
            recorded = await ProfileSession.RecordAsync(Environment.ProcessId, ProfileKinds.Cpu | ProfileKinds.Wall, TimeSpan.FromSeconds(3), allocationTicksOnly: false,
                CancellationToken.None, spans: spans);
        }
        finally
        {
            await stop.CancelAsync();
            await serving;
        }

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Cpu));
        foreach (var function in new[] { nameof(BeforeTheHop), nameof(AfterTheHop), nameof(InTheChildSpan) })
        {
            var samples = profile.Sample.Where(s => s.LocationId.Any(l => FunctionOf(profile, l).EndsWith("ProfileSessionTests." + function, StringComparison.Ordinal))).ToList();
            var labelled = samples.Where(s => Label(profile, s, "span_name") == "GET /orders/{id}").ToList();
            var (taken, inSpan) = (samples.Sum(s => s.Value[0]), labelled.Sum(s => s.Value[0]));
            var summary = $"{function}: {inSpan} of {taken} samples in the span; {hops} hops of {requests.Count} requests";
            Assert.True(taken >= 150, summary);
            Assert.True(inSpan >= 0.9 * taken, summary);
            // The local root's id, the one the request started, and its trace.
            Assert.All(labelled, s => Assert.Equal(requests[Label(profile, s, "span_id")!], Label(profile, s, "trace_id")));
        }

        Assert.True(hops == requests.Count, $"{hops} of {requests.Count} requests resumed on another thread");
        // Samples outside any span carry none: the requests' idle pool threads and the loop between requests.
        Assert.Contains(profile.Sample, s => Label(profile, s, "span_id") is null);
        var wall = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Wall));
        var idle = wall.Sample.Where(s => FunctionOf(wall, s.LocationId[0]).StartsWith("System.Threading.LowLevelLifoSemaphore", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(idle);
        Assert.All(idle, s => Assert.Null(Label(wall, s, "span_id")));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void BeforeTheHop(TimeSpan time) => BurnFor(time);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AfterTheHop(TimeSpan time) => BurnFor(time);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void InTheChildSpan(TimeSpan time) => BurnFor(time);

    private static string FunctionOf(Profile profile, ulong location) =>
        profile.StringTable[(int)profile.Function.First(f => f.Id == profile.Location.First(l => l.Id == location).Line[0].FunctionId).Name];

    private static string? Label(Profile profile, Sample sample, string key) =>
        sample.Label.Where(l => profile.StringTable[(int)l.Key] == key).Select(l => profile.StringTable[(int)l.Str]).FirstOrDefault();

    [Fact]
    public async Task Frames_of_methods_whose_assembly_has_a_pdb_carry_the_source_file_the_methods_first_line_and_the_line_that_ran()
    {
        var recorded = await RecordWhileAsync(ProfileKinds.Cpu, stop => BurnCpu(stop)); // the caller's line

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Cpu));
        var functions = profile.Function.ToDictionary(f => profile.StringTable[(int)f.Name]);
        var burn = functions.Single(f => f.Key.EndsWith("ProfileSessionTests.BurnCpu", StringComparison.Ordinal)).Value;
        Assert.Equal(SourceFile(), profile.StringTable[(int)burn.Filename]);
        // The first statement of BurnCpu: its body's "var x = 0.0;", two lines below the declaration.
        var source = File.ReadAllLines(SourceFile());
        int LineOf(string text) => Array.FindIndex(source, l => l.Contains(text, StringComparison.Ordinal)) + 1;
        var declaration = LineOf("internal static double BurnCpu(");
        Assert.Equal(declaration + 2, burn.StartLine);
        // Its samples are at the statements of its loop, by the runtime's IL-to-native map and the PDB: most at
        // the loop's body, none at the method's first line.
        var lines = LinesOf(profile, burn.Id);
        var body = LineOf("x += Math.Sqrt(i);");
        Assert.True(lines.Keys.All(l => l > declaration + 2 && l <= body), $"BurnCpu's lines: {string.Join(", ", lines)}");
        Assert.True(lines.GetValueOrDefault(body) + lines.GetValueOrDefault(body - 1) > 0.9 * lines.Values.Sum(), $"BurnCpu's lines: {string.Join(", ", lines)}");
        // Its caller, the lambda above, is at the line of its call.
        var caller = functions.Single(f => f.Key.Contains("<Frames_of_methods_whose_assembly_has_a_pdb", StringComparison.Ordinal) && f.Key.Contains(">b__", StringComparison.Ordinal)).Value;
        Assert.Equal([LineOf("stop => BurnCpu(stop)); // the caller's line")], LinesOf(profile, caller.Id).Keys);
        // The thread's entry point is in System.Private.CoreLib, whose PDB is not shipped with the runtime: no file, no line.
        var start = functions["System.Threading.Thread.StartCallback"];
        Assert.Equal("", profile.StringTable[(int)start.Filename]);
        Assert.Equal([0L], LinesOf(profile, start.Id).Keys);
    }

    /// <summary>The lines a function's locations are at, with the CPU samples at each.</summary>
    private static Dictionary<long, long> LinesOf(Profile profile, ulong functionId)
    {
        var locations = profile.Location.Where(l => Assert.Single(l.Line).FunctionId == functionId).ToDictionary(l => l.Id, l => l.Line[0].Line_);
        return locations.Values.Distinct().ToDictionary(line => line, line => profile.Sample
            .Where(s => s.LocationId.Any(id => locations.TryGetValue(id, out var at) && at == line))
            .Sum(s => s.Value[0]));
    }

    private static string SourceFile([CallerFilePath] string path = "") => path;

    /// <summary>Sampled allocations on .NET 10; GCAllocationTick alone is how runtimes before it are measured.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_heap_window_names_the_allocating_method_and_type_and_estimates_the_bytes_it_allocated(bool allocationTicksOnly)
    {
        var before = Interlocked.Read(ref _allocated);
        var recorded = await RecordWhileAsync(ProfileKinds.Heap, AllocateArrays, allocationTicksOnly: allocationTicksOnly);
        var allocated = Interlocked.Read(ref _allocated) - before;

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Heap));
        var top = TopTable.Build(profile, TopTable.SampleTypeIndex(profile, "alloc_space"));
        Assert.True(top.Rows[0].Function.EndsWith("ProfileSessionTests.AllocateArrays", StringComparison.Ordinal), Summary(top));
        // Sampled allocations scaled up estimate what was allocated while the session ran, which is at most
        // what the workload allocated from before the session started to after it stopped.
        Assert.InRange(top.Rows[0].Flat, allocated / 4, allocated * 5 / 4);
        Assert.Equal(["alloc_objects", "alloc_space"], profile.SampleType.Select(t => profile.StringTable[(int)t.Type]));
        Assert.Contains(profile.Sample, s => s.Label.Any(l => profile.StringTable[(int)l.Key] == "type" && profile.StringTable[(int)l.Str] == "System.Int64[]"));
    }

    [Fact]
    public async Task A_mutex_window_attributes_the_waits_to_the_contended_lock_site()
    {
        var recorded = await RecordWhileAsync(ProfileKinds.Mutex, WaitForTheGate, threads: 2);

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Mutex));
        var top = TopTable.Build(profile, TopTable.SampleTypeIndex(profile, "delay"));
        var site = top.Rows.Single(r => r.Function.EndsWith("ProfileSessionTests.WaitForTheGate", StringComparison.Ordinal));
        Assert.True(site.Cumulative > 0.9 * top.Total, Summary(top));
        // One of the two threads is nearly always waiting for the other, which sleeps inside the lock, and
        // never both at once.
        Assert.InRange(top.Total, profile.DurationNanos / 3, profile.DurationNanos * 11 / 10);
        Assert.True(TopTable.Build(profile, TopTable.SampleTypeIndex(profile, "contentions")).Total > 10, Summary(top));
    }

    [Fact]
    public async Task An_exceptions_window_counts_the_exceptions_thrown_by_type_at_the_throwing_method()
    {
        var recorded = await RecordWhileAsync(ProfileKinds.Exceptions, ThrowAndCatch);

        var profile = RoundTrip(Assert.Single(recorded, r => r.Type == ProfileType.Other));
        var top = TopTable.Build(profile, TopTable.SampleTypeIndex(profile, "exceptions"));
        var site = top.Rows.Single(r => r.Function.EndsWith("ProfileSessionTests.ThrowAndCatch", StringComparison.Ordinal));
        Assert.True(site.Cumulative > 0.9 * top.Total && top.Total > 100, Summary(top));
        Assert.Contains(profile.Sample, s => s.Label.Any(l => profile.StringTable[(int)l.Key] == "type" && profile.StringTable[(int)l.Str] == "System.InvalidOperationException"));
    }

    [Fact]
    public async Task The_agents_own_work_is_left_out_of_a_profile_of_its_own_process()
    {
        var recorded = await RecordWhileAsync(ProfileKinds.All, AllocateArrays);

        Assert.NotEmpty(recorded);
        foreach (var profile in recorded.Select(RoundTrip))
        {
            var functions = profile.Function.Select(f => profile.StringTable[(int)f.Name]).ToList();
            Assert.DoesNotContain(functions, f => f.StartsWith("Microsoft.Diagnostics.", StringComparison.Ordinal) || f.StartsWith("Hotpath.Agent.ProfileSession", StringComparison.Ordinal));
        }
    }
}
