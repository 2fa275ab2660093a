using System.Diagnostics;
using Hotpath.Agent.EventPipe;

namespace Hotpath.Agent.Spans;

/// <summary>A window's span changes per thread, asked which span a thread was in at a moment.</summary>
internal sealed class SpanLookup(Dictionary<long, (long Time, Activity? Span)[]> changes)
{
    private readonly Dictionary<Activity, SpanLabels> _labels = new(ReferenceEqualityComparer.Instance);

    /// <summary>The labels of the span thread <paramref name="threadId"/> was in at <paramref name="timestamp"/> (Stopwatch ticks), or null.</summary>
    public SpanLabels? At(long threadId, long timestamp)
    {
        if (!changes.TryGetValue(threadId, out var thread) || thread.Length == 0)
            return null;
        var found = Sorted.LastAtOrBefore<(long Time, Activity? Span), long>(thread, timestamp, static c => c.Time);
        return found < 0 || thread[found].Span is not { } span ? null : LabelsOf(span);
    }

    private SpanLabels LabelsOf(Activity span)
    {
        if (_labels.TryGetValue(span, out var known))
            return known;
        // The local root: the request's span in this process, whatever spans it started inside.
        var root = span;
        while (root.Parent is { } parent)
            root = parent;
        return _labels[span] = new SpanLabels(root.SpanId.ToHexString(), root.TraceId.ToHexString(), root.DisplayName);
    }
}

/// <summary>The sample labels of a span: its local root's id, its trace's id and the local root's name.</summary>
internal sealed record SpanLabels(string SpanId, string TraceId, string Name)
{
    public KeyValuePair<string, string>[] Labels { get; } = [new("span_id", SpanId), new("trace_id", TraceId), new("span_name", Name)];
}
