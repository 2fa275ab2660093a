using System.IO.Hashing;
using System.Text;
using Google.Protobuf;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// Turns a batch of profiles into the rows of the stack store: each distinct stack (function names, leaf
/// first) once in <c>stacks</c>, keyed by its 64-bit hash, and per service, type, label set and minute one
/// <c>stack_samples</c> row per stack with the summed values. The profiles of a batch that share those are
/// merged first, so a fleet's profiles of one minute cost one row per stack, not one per sample and profile;
/// that merge of two or more profiles is also kept whole as a <c>pieces</c> row (pprof), which merges of
/// whole minutes read.
/// Runs on the write loop, from the profile ingest already decoded: no body is parsed twice.
/// </summary>
internal sealed class StackRows
{
    // Stacks this process has stored: sent once, not with every profile. Bounded: past it, the set starts
    // again (a stack sent twice is one row after ClickHouse's merges, ReplacingMergeTree).
    private const int MaxKnownStacks = 1_000_000;

    private readonly HashSet<ulong> _known = [];
    private readonly ProfileDecoder _decoder = new();

    /// <summary>
    /// Encodes the batch's rows. The stacks it sends count as known at once, so that the next batch, encoded
    /// while this one is in flight, does not send them again; <see cref="Forget"/> them if the insert fails.
    /// </summary>
    public EncodedRows Encode(IEnumerable<(ProfileMeta Meta, RawProfile? Decoded, ReadOnlyMemory<byte> Body)> batch)
    {
        if (_known.Count > MaxKnownStacks)
            _known.Clear();
        var rows = new EncodedRows(new RowBinaryWriter(), new RowBinaryWriter(), new RowBinaryWriter(), []);
        var groups = new Dictionary<(string Service, ProfileType Type, string Labels, long Minute), List<ProfileMerger>>();
        var labelsOf = new Dictionary<string, IReadOnlyList<ProfileLabel>>(StringComparer.Ordinal);
        RawProfile? scratch = null;
        foreach (var (meta, decoded, body) in batch)
        {
            if (meta.Type == ProfileType.Trace)
                continue;
            var profile = decoded;
            if (profile is null)
            {
                try
                {
                    scratch ??= new RawProfile();
                    _decoder.Load(body, scratch);
                    profile = scratch;
                }
                catch (Exception e) when (e is MalformedProfileException or ProfileTooLargeException)
                {
                    continue; // stored as received; only a parsable profile has stacks
                }
            }

            var labels = ClickHouseProfileStore.LabelKey(meta.Labels);
            labelsOf.TryAdd(labels, meta.Labels);
            var key = (meta.Service, meta.Type, labels, ClickHouseProfileStore.FloorDiv(meta.CreatedAtUnixNanos, ClickHouseProfileStore.NanosPerMinute));
            if (!groups.TryGetValue(key, out var mergers))
                groups[key] = mergers = [];
            Fold(mergers, profile);
            if (profile == scratch)
                ProfileDecoder.Release(scratch);
        }

        foreach (var ((service, type, labels, minute), mergers) in groups)
        {
            foreach (var merger in mergers)
                Write(rows, service, type, labelsOf[labels], minute, merger.Count, merger.Build());
        }

        return rows;
    }

    /// <summary>The insert of these rows failed: their stacks are not stored, and must be sent again.</summary>
    public void Forget(EncodedRows rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        _known.ExceptWith(rows.NewStacks);
    }

    /// <summary>Into the first merger whose sample types it shares (a service's heap profiles may come from Go and .NET).</summary>
    private static void Fold(List<ProfileMerger> mergers, RawProfile profile)
    {
        foreach (var merger in mergers)
        {
            try
            {
                merger.Add(profile);
                return;
            }
            catch (IncompatibleProfilesException)
            {
                // the next one, or a new one
            }
        }

        var added = new ProfileMerger();
        added.Add(profile);
        mergers.Add(added);
    }

    private void Write(EncodedRows rows, string service, ProfileType type, IReadOnlyList<ProfileLabel> labels, long minute, int profiles, Pprof.Proto.Profile merged)
    {
        var sums = new Dictionary<ulong, long[]>();
        foreach (var (stack, values) in ProfileSamples.Stacks(merged))
        {
            var hash = Hash(stack);
            if (sums.TryGetValue(hash, out var sum))
            {
                for (var i = 0; i < sum.Length; i++)
                    sum[i] += values[i];
                continue;
            }

            sums[hash] = [.. values];
            if (_known.Add(hash))
            {
                rows.NewStacks.Add(hash);
                rows.Stacks.UInt64(hash);
                rows.Stacks.Strings(stack);
            }
        }

        var types = merged.SampleTypeNames();
        var keys = labels.Select(l => l.Key).ToList();
        var labelValues = labels.Select(l => l.Value).ToList();
        var seconds = (uint)Math.Clamp(minute * 60, 0, uint.MaxValue);
        foreach (var (hash, sum) in sums)
        {
            rows.Samples.String(service);
            rows.Samples.UInt8((byte)type);
            rows.Samples.UInt32(seconds);
            rows.Samples.Strings(keys);
            rows.Samples.Strings(labelValues);
            rows.Samples.UInt64(hash);
            rows.Samples.Strings(types);
            rows.Samples.Int64s(sum);
        }

        // The merged pprof itself, a piece a merge of whole minutes reads instead of the profiles it holds;
        // of one profile it would save no decode and only cost an insert and the bytes again.
        if (profiles < 2)
            return;
        rows.Pieces.String(service);
        rows.Pieces.UInt8((byte)type);
        rows.Pieces.UInt32(seconds);
        rows.Pieces.Strings(keys);
        rows.Pieces.Strings(labelValues);
        rows.Pieces.UInt32((uint)profiles);
        rows.Pieces.Bytes(merged.ToByteArray());
    }

    /// <summary>XxHash64 of the frames, each ended by a NUL: the same on every collector.</summary>
    internal static ulong Hash(IReadOnlyList<string> stack)
    {
        var hash = new XxHash64();
        Span<byte> end = [0];
        foreach (var frame in stack)
        {
            hash.Append(Encoding.UTF8.GetBytes(frame));
            hash.Append(end);
        }

        return hash.GetCurrentHashAsUInt64();
    }
}

/// <summary>The rows of one batch, and the stacks it is the first to send.</summary>
internal sealed record EncodedRows(RowBinaryWriter Stacks, RowBinaryWriter Samples, RowBinaryWriter Pieces, List<ulong> NewStacks);
