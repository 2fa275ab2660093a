using Hotpath.Pprof;
using Hotpath.Storage.Pieces;

namespace Hotpath.Storage.Tests;

/// <summary>The one planner of every engine, over an index in memory that records what it is asked.</summary>
public sealed class PiecePlannerTests
{
    private const long Minute = 60_000_000_000;
    private const long Hour = 60 * Minute;
    private static readonly long T0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

    [Fact]
    public async Task A_range_takes_the_coarsest_whole_buckets_then_finer_ones_towards_its_edges_then_raw_profiles()
    {
        var index = new RecordingIndex([BucketGrid.Hour, BucketGrid.TenMinutes]);

        var plan = await new PiecePlanner<int>(index).PlanAsync(Query(T0 + 5 * Minute, T0 + 2 * Hour + 25 * Minute - 1), default);

        Assert.Equal([(BucketGrid.Hour, T0 + Hour, T0 + 2 * Hour)], index.Loads.Where(l => l.Level == BucketGrid.Hour));
        Assert.Equal([(BucketGrid.TenMinutes, T0 + 10 * Minute, T0 + Hour), (BucketGrid.TenMinutes, T0 + 2 * Hour, T0 + 2 * Hour + 20 * Minute)], index.TenMinuteLoads);
        Assert.Equal([(T0 + 5 * Minute, T0 + 10 * Minute), (T0 + 2 * Hour + 20 * Minute, T0 + 2 * Hour + 25 * Minute)], index.RawRanges);
        Assert.Equal(1 + 5 + 2, plan.Parts.Count(p => !p.Raw)); // an hour, five and two 10 minutes
        Assert.Equal(plan.Parts.OrderBy(p => p.Time).Select(p => p.Time), plan.Parts.Select(p => p.Time));
    }

    [Fact]
    public async Task A_stale_bucket_is_read_one_level_finer_and_a_stale_finest_bucket_raw()
    {
        var index = new RecordingIndex([BucketGrid.Hour, BucketGrid.TenMinutes]) { Stale = { (BucketGrid.Hour, T0 + Hour), (BucketGrid.TenMinutes, T0 + Hour + 30 * Minute) } };

        var plan = await new PiecePlanner<int>(index).PlanAsync(Query(T0, T0 + 2 * Hour - 1), default);

        Assert.Equal([(BucketGrid.TenMinutes, T0 + Hour, T0 + 2 * Hour)], index.TenMinuteLoads);
        Assert.Equal([(T0 + Hour + 30 * Minute, T0 + Hour + 40 * Minute)], index.RawRanges);
        Assert.Equal(1 + 5, plan.Parts.Count(p => !p.Raw));
    }

    [Fact]
    public async Task A_series_plans_with_pieces_no_wider_than_its_step()
    {
        var index = new RecordingIndex([BucketGrid.Hour, BucketGrid.TenMinutes]);

        await new PiecePlanner<int>(index).PlanAsync(Query(T0, T0 + 2 * Hour - 1), default, maxWidth: 10 * Minute);

        Assert.Equal([(BucketGrid.TenMinutes, T0, T0 + 2 * Hour)], index.Loads);
        Assert.Empty(index.RawRanges);
    }

    [Fact]
    public async Task Times_outside_the_engines_span_are_read_raw()
    {
        var index = new RecordingIndex([BucketGrid.Hour]) { Span = (T0, long.MaxValue / 2) };

        await new PiecePlanner<int>(index).PlanAsync(Query(T0 - Hour, T0 + Hour - 1), default);

        Assert.Equal([(BucketGrid.Hour, T0, T0 + Hour)], index.Loads);
        Assert.Equal([(T0 - Hour, T0)], index.RawRanges);
    }

    private static ProfileQuery Query(long from, long to) => new("api", ProfileType.Cpu, from, to, []);

    /// <summary>Every whole bucket asked for holds a piece, unless it is marked stale at that level.</summary>
    private sealed class RecordingIndex(int[] levels) : IPieceIndex<int>
    {
        public List<(int Level, long From, long End)> Loads { get; } = [];

        public IEnumerable<(int Level, long From, long End)> TenMinuteLoads => Loads.Where(l => l.Level == BucketGrid.TenMinutes);

        public List<(long From, long End)> RawRanges { get; } = [];

        public HashSet<(int Level, long Bucket)> Stale { get; } = [];

        public IReadOnlyList<int> Levels => levels;

        public (long From, long End) Span { get; init; } = (-(1L << 62), 1L << 62);

        public Task<IReadOnlyList<string>> LabelSetsAsync(ProfileQuery query, string? byLabel, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<string>>([BucketGrid.AllLabels]);

        public Task<LoadedPieces<int>> LoadAsync(ProfileQuery query, int level, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken)
        {
            var loaded = new LoadedPieces<int>();
            foreach (var range in ranges)
            {
                Loads.Add((level, range.From, range.End));
                for (var bucket = range.From; bucket < range.End; bucket += BucketGrid.Width(level))
                {
                    if (Stale.Contains((level, bucket)))
                        loaded.Stale.Add((range.Labels, bucket));
                    else
                        loaded.Pieces.Add(new(bucket, range.Labels, 1, 0, false, 0));
                }
            }

            return Task.FromResult(loaded);
        }

        public Task<IReadOnlyList<PlannedPiece<int>>> RawAsync(ProfileQuery query, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken)
        {
            RawRanges.AddRange(ranges.Select(r => (r.From, r.End)));
            return Task.FromResult<IReadOnlyList<PlannedPiece<int>>>([.. ranges.Select(r => new PlannedPiece<int>(r.From, r.Labels, 1, 0, true, 0))]);
        }
    }
}
