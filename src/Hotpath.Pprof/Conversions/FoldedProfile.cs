using System.Runtime.InteropServices;
using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Conversions;

/// <summary>
/// Folded stacks (Brendan Gregg's format, as Pyroscope's clients send it: <c>root;caller;leaf 123</c> per
/// line, or one stack per line counting 1) turned into a pprof profile with one sample per distinct stack.
/// What it builds is reserved against a <see cref="DecodeReservation"/> as it grows, as a pprof decode is: a
/// body of a million distinct lines or of one line of a million frames stops at the decode limits.
/// </summary>
public static class FoldedProfile
{
    /// <summary>Most lines one body may hold, so that a hostile body cannot make a profile of unbounded size.</summary>
    public const int MaxLines = 1_000_000;

    // What a distinct stack's string and dictionary entry take, estimated from their .NET layouts with room for
    // collections growing by doubling (the profile's own objects are reserved by ProfileBuilder).
    private const long StackBytes = 96;

    /// <summary>
    /// Parses <paramref name="text"/>. Sampled time (<paramref name="periodNanos"/> &gt; 0: cpu, wall) gives
    /// two sample types, <c>samples/count</c> and <c>{sampleType}/nanoseconds</c> (a count times the period),
    /// as Go's CPU profiles have; otherwise one, <c>{sampleType}/{unit}</c>, holding the numbers as they are.
    /// </summary>
    /// <param name="countsPerLine">False for the "lines" form: each line is one stack, counted once.</param>
    /// <param name="memory">What the profile takes is reserved here (the text itself is the caller's); null: unbounded.</param>
    /// <exception cref="MalformedProfileException">A line is not <c>frames number</c>, or there are no samples.</exception>
    /// <exception cref="ProfileTooLargeException">Building it would take more than the decode limit of one profile.</exception>
    /// <exception cref="DecodeBudgetExhaustedException">Decodes in flight hold the rest of the shared budget.</exception>
    public static Profile Parse(string text, string sampleType, string unit, long periodNanos, bool countsPerLine = true, DecodeReservation? memory = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var stacks = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = stacks.GetAlternateLookup<ReadOnlySpan<char>>();
        var lines = 0;
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            if (line.IsEmpty)
                continue;
            if (++lines > MaxLines)
                throw new MalformedProfileException($"more than {MaxLines} folded lines");
            ReadOnlySpan<char> stack;
            long count = 1;
            if (countsPerLine)
            {
                var space = line.LastIndexOf(' ');
                if (space <= 0 || !long.TryParse(line[(space + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count))
                    throw new MalformedProfileException($"folded line {lines} is not \"frame;frame;... count\"");
                stack = line[..space].TrimEnd();
            }
            else
            {
                stack = line;
            }

            if (stack.IsEmpty)
                throw new MalformedProfileException($"folded line {lines} has no frames");
            if (lookup.TryGetValue(stack, out var sum))
            {
                lookup[stack] = checked(sum + count);
            }
            else
            {
                memory?.Grow(StackBytes + 2L * stack.Length);
                lookup[stack] = count;
            }
        }

        if (stacks.Values.All(v => v == 0))
            throw new MalformedProfileException("no samples");
        return Build(stacks, sampleType, unit, periodNanos, memory);
    }

    private static Profile Build(Dictionary<string, long> stacks, string sampleType, string unit, long periodNanos, DecodeReservation? memory)
    {
        var sampled = periodNanos > 0;
        var builder = sampled
            ? new ProfileBuilder([("samples", "count"), (sampleType, "nanoseconds")], (sampleType, "nanoseconds"), periodNanos, memory)
            : new ProfileBuilder([(sampleType, unit)], memory: memory);
        var ids = new List<ulong>();
        Span<long> values = stackalloc long[sampled ? 2 : 1];
        foreach (var (stack, count) in stacks)
        {
            var span = stack.AsSpan();
            ids.Clear();
            // Folded text is root first; pprof's locations are leaf first.
            var end = span.Length;
            while (end >= 0)
            {
                var start = span[..end].LastIndexOf(';') + 1;
                var frame = span[start..end];
                end = start - 1;
                ids.Add(builder.Location(frame.IsEmpty ? "[unknown]" : frame));
            }

            values[0] = count;
            if (sampled)
                values[1] = checked(count * periodNanos);
            builder.AddSample(CollectionsMarshal.AsSpan(ids), values);
        }

        return builder.Build();
    }
}
