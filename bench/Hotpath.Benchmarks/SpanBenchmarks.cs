using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Hotpath.Agent.Spans;

namespace Hotpath.Benchmarks;

/// <summary>
/// What the agent's span timeline costs each async continuation of a request: a continuation runs in the
/// request's execution context (its span flows in as it starts, and out as it ends), here 1,000 of them on this
/// thread, without the timeline, with it between windows, and while a window records (each change appended to
/// its thread's list; every iteration starts a window afresh, as each window does).
/// </summary>
[MemoryDiagnoser]
public class SpanBenchmarks
{
    private const int Continuations = 1000;
    private static readonly ContextCallback Continuation = static _ => { };

    private readonly ActivitySource _source = new("Hotpath.Benchmarks.Spans");
    private ActivityListener? _listener;
    private SpanTimeline? _timeline;
    private ExecutionContext? _request;

    [Params("none", "idle", "recording")]
    public string Timeline { get; set; } = "none";

    [GlobalSetup]
    public void Setup()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == _source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(_listener);
        if (Timeline != "none")
            _timeline = new SpanTimeline();
        using var span = _source.StartActivity("GET /orders/{id}");
        _request = ExecutionContext.Capture();
    }

    [IterationSetup]
    public void StartWindow()
    {
        if (Timeline == "recording")
            _timeline!.Start();
    }

    [Benchmark(OperationsPerInvoke = Continuations)]
    public void ContinuationInASpan()
    {
        for (var i = 0; i < Continuations; i++)
            ExecutionContext.Run(_request!, Continuation, null);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _timeline?.Dispose();
        _listener?.Dispose();
        _source.Dispose();
    }
}
