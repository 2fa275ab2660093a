using Hotpath.Pprof.Proto;
using ValueType = Hotpath.Pprof.Proto.ValueType;

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

    // What the objects take, estimated from their .NET layouts with room for collections growing by doubling:
    // a distinct stack's string and dictionary entry; a sample and its ids per frame; a function, its location,
    // line, string-table entries and lookups.
    private const long StackBytes = 96;
    private const long SampleBytes = 160;
    private const long FrameBytes = 16;
    private const long LocationBytes = 400;

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
        var profile = new Profile();
        var strings = new StringTableBuilder(profile);
        long Intern(string s) => strings.Intern(s);
        var sampled = periodNanos > 0;
        if (sampled)
        {
            profile.SampleType.Add(new ValueType { Type = Intern("samples"), Unit = Intern("count") });
            profile.SampleType.Add(new ValueType { Type = Intern(sampleType), Unit = Intern("nanoseconds") });
            profile.PeriodType = new ValueType { Type = Intern(sampleType), Unit = Intern("nanoseconds") };
            profile.Period = periodNanos;
        }
        else
        {
            profile.SampleType.Add(new ValueType { Type = Intern(sampleType), Unit = Intern(unit) });
        }

        var locations = new Dictionary<string, ulong>(StringComparer.Ordinal);
        var names = locations.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var (stack, count) in stacks)
        {
            var span = stack.AsSpan();
            var frameCount = span.Count(';') + 1;
            memory?.Grow(SampleBytes + FrameBytes * frameCount);
            var sample = new Sample();
            // Folded text is root first; pprof's locations are leaf first.
            var end = span.Length;
            for (var i = 0; i < frameCount; i++)
            {
                var start = span[..end].LastIndexOf(';') + 1;
                var frame = span[start..end];
                end = start - 1;
                if (frame.IsEmpty)
                    frame = "[unknown]";
                if (!names.TryGetValue(frame, out var id))
                {
                    memory?.Grow(LocationBytes + 2L * frame.Length);
                    var name = frame.ToString();
                    id = (ulong)locations.Count + 1;
                    locations[name] = id;
                    profile.Function.Add(new Function { Id = id, Name = Intern(name), SystemName = Intern(name) });
                    var location = new Location { Id = id };
                    location.Line.Add(new Line { FunctionId = id });
                    profile.Location.Add(location);
                }

                sample.LocationId.Add(id);
            }

            sample.Value.Add(count);
            if (sampled)
                sample.Value.Add(checked(count * periodNanos));
            profile.Sample.Add(sample);
        }

        return profile;
    }
}
