using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Storage;
using Hotpath.Storage.Pieces;

namespace Hotpath.Service.Query.Changes;

/// <summary>
/// Answers "what changed?" between two selections (two time ranges, two versions, two regions): each side is cut
/// into intervals of the piece grid (minutes up to 70 minutes, then ten minutes, hours from 7 hours, days from 7 days),
/// each interval merged from its pre-merged pieces, and the functions' shares of the intervals compared
/// (<see cref="ChangeStatistics"/>): the variation between a side's intervals is what tells a change from noise.
/// </summary>
public sealed class ChangeFinder(IProfileReader reader, MergeService merger)
{
    /// <summary>
    /// Fewest intervals the longer side is cut into where the range allows (a week of days): the test's degrees of
    /// freedom. Each interval reads one piece per label set at its level, so a coarser level costs far less (a week
    /// of a fleet's version filter in hours read 20 sets' pieces 168 times a side), and a change worth reporting moves
    /// every interval, however few.
    /// </summary>
    public const int MinIntervals = 7;

    /// <exception cref="InvalidRequestException">A criterion is out of range, or a side has profiles in fewer than two intervals.</exception>
    public async Task<ChangeReport> CompareAsync(ProfileQuery baseline, ProfileQuery target, string? sampleType, ChangeCriteria criteria,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(criteria);
        criteria.Validate();
        var width = IntervalWidth(Math.Max(baseline.ToUnixNanos - baseline.FromUnixNanos, target.ToUnixNanos - target.FromUnixNanos));
        var before = Intervals(baseline, width);
        var after = Intervals(target, width);
        var read = new Interval?[before.Count + after.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, read.Length),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
            async (i, token) => read[i] = await ReadAsync(i < before.Count ? before[i] : after[i - before.Count], sampleType, token).ConfigureAwait(false))
            .ConfigureAwait(false);

        var baselineRead = Side(baseline, read[..before.Count], "baseline");
        var targetRead = Side(target, read[before.Count..], "target");
        var first = baselineRead.Intervals[0];
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var interval in read)
        {
            foreach (var (function, file) in interval?.Files ?? [])
                files.TryAdd(function, file);
        }

        var (changes, compared) = ChangeStatistics.Compare([.. baselineRead.Intervals.Select(i => i.Values)], [.. targetRead.Intervals.Select(i => i.Values)],
            criteria, files);
        return new ChangeReport(first.SampleType, first.Unit, width / 1e9, baselineRead.Side, targetRead.Side, criteria, compared,
            [.. changes.Take(criteria.MaxFunctions)], changes.Count(c => c.Regressed));
    }

    /// <summary>
    /// "The version before and after": the selection narrowed to each of the two newest values of label
    /// <paramref name="key"/> in its range (newest by their last profile, then by their first: a deploy's new
    /// version starts later, then the greater value), the older as the baseline.
    /// </summary>
    /// <exception cref="InvalidRequestException">The range holds fewer than two values of the label.</exception>
    public async Task<(ProfileQuery Baseline, ProfileQuery Target)> VersionsAsync(ProfileQuery query, string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentException.ThrowIfNullOrEmpty(key);
        var series = await TimeSeries.ReadByLabelAsync(reader, query, key, MaxSeriesBuckets, cancellationToken).ConfigureAwait(false);
        static int Last(TimeSeries s) => s.Counts.Count - 1 - s.Counts.Reverse().TakeWhile(c => c == 0).Count();
        static int First(TimeSeries s) => s.Counts.TakeWhile(c => c == 0).Count();
        var newest = series.Where(v => v.Value.Profiles > 0)
            .OrderByDescending(v => Last(v.Value)).ThenByDescending(v => First(v.Value)).ThenByDescending(v => v.Key, StringComparer.Ordinal)
            .Select(v => v.Key).Take(2).ToList();
        if (newest.Count < 2)
        {
            throw new InvalidRequestException(
                $"the range holds {(newest.Count == 0 ? "no value" : $"one value ({key}={newest[0]})")} of label \"{key}\", and comparing the version before and after needs two; widen the range");
        }

        return (query with { Labels = [.. query.Labels, new ProfileLabel(key, newest[1])] }, query with { Labels = [.. query.Labels, new ProfileLabel(key, newest[0])] });
    }

    /// <summary>How finely <see cref="VersionsAsync"/> tells which value came last.</summary>
    private const int MaxSeriesBuckets = 240;

    /// <summary>The coarsest level of the piece grid that cuts the longer side into at least <see cref="MinIntervals"/> intervals; minutes for a shorter range.</summary>
    public static long IntervalWidth(long rangeNanos)
    {
        for (var level = BucketGrid.Day; level > BucketGrid.Minute; level--)
        {
            if (rangeNanos / BucketGrid.Width(level) >= MinIntervals)
                return BucketGrid.Width(level);
        }

        return BucketGrid.Width(BucketGrid.Minute);
    }

    /// <summary>The query's range cut at the grid's lines (its ends kept where they are).</summary>
    private static List<ProfileQuery> Intervals(ProfileQuery query, long width)
    {
        var intervals = new List<ProfileQuery>();
        for (var start = query.FromUnixNanos; start <= query.ToUnixNanos;)
        {
            var floor = start - (((start % width) + width) % width);
            var end = floor > long.MaxValue - width ? query.ToUnixNanos : Math.Min(query.ToUnixNanos, floor + width - 1);
            intervals.Add(query with { FromUnixNanos = start, ToUnixNanos = end });
            if (end == query.ToUnixNanos)
                break;
            start = end + 1;
        }

        return intervals;
    }

    private async Task<Interval?> ReadAsync(ProfileQuery query, string? sampleType, CancellationToken cancellationToken)
    {
        if (await merger.TryMergeSelectionAsync(query, cancellationToken).ConfigureAwait(false) is not var (merged, count))
            return null;
        var index = SelectedMerge.SampleTypeIndex(merged, sampleType);
        var table = TopTable.Build(merged, index);
        if (table.Total == 0)
            return null;
        var files = table.Rows.Where(r => r.File.Length > 0).Select(r => (r.Function, r.File)).ToList();
        var seconds = (query.ToUnixNanos - query.FromUnixNanos + 1) / 1e9;
        return new Interval(IntervalValues.Of(table, seconds), count, table.SampleType, table.Unit, files);
    }

    private static (ChangeSide Side, List<Interval> Intervals) Side(ProfileQuery query, ReadOnlySpan<Interval?> read, string name)
    {
        var intervals = new List<Interval>(read.Length);
        foreach (var interval in read)
        {
            if (interval is not null)
                intervals.Add(interval);
        }

        if (intervals.Count < 2)
        {
            throw new InvalidRequestException(
                $"the {name} has profiles in {intervals.Count} of its {read.Length} intervals, and a comparison needs two on each side to tell a change from noise; widen its time range");
        }

        return (new ChangeSide(query, intervals.Sum(i => i.Profiles), intervals.Count, intervals.Sum(i => i.Values.Total)), intervals);
    }

    private sealed record Interval(IntervalValues Values, int Profiles, string SampleType, string Unit, List<(string Function, string File)> Files);
}
