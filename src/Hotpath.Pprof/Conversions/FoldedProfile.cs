using Hotpath.Pprof.Proto;
using ValueType = Hotpath.Pprof.Proto.ValueType;

namespace Hotpath.Pprof.Conversions;

/// <summary>
/// Folded stacks (Brendan Gregg's format, as Pyroscope's clients send it: <c>root;caller;leaf 123</c> per
/// line, or one stack per line counting 1) turned into a pprof profile with one sample per distinct stack.
/// </summary>
public static class FoldedProfile
{
    /// <summary>Most lines one body may hold, so that a hostile body cannot make a profile of unbounded size.</summary>
    public const int MaxLines = 1_000_000;

    /// <summary>
    /// Parses <paramref name="text"/>. Sampled time (<paramref name="periodNanos"/> &gt; 0: cpu, wall) gives
    /// two sample types, <c>samples/count</c> and <c>{sampleType}/nanoseconds</c> (a count times the period),
    /// as Go's CPU profiles have; otherwise one, <c>{sampleType}/{unit}</c>, holding the numbers as they are.
    /// </summary>
    /// <param name="countsPerLine">False for the "lines" form: each line is one stack, counted once.</param>
    /// <exception cref="MalformedProfileException">A line is not <c>frames number</c>, or there are no samples.</exception>
    public static Profile Parse(string text, string sampleType, string unit, long periodNanos, bool countsPerLine = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var stacks = new Dictionary<string, long>(StringComparer.Ordinal);
        var lines = 0;
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            if (line.IsEmpty)
                continue;
            if (++lines > MaxLines)
                throw new MalformedProfileException($"more than {MaxLines} folded lines");
            string stack;
            long count = 1;
            if (countsPerLine)
            {
                var space = line.LastIndexOf(' ');
                if (space <= 0 || !long.TryParse(line[(space + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count))
                    throw new MalformedProfileException($"folded line {lines} is not \"frame;frame;... count\"");
                stack = line[..space].TrimEnd().ToString();
            }
            else
            {
                stack = line.ToString();
            }

            if (stack.Length == 0)
                throw new MalformedProfileException($"folded line {lines} has no frames");
            stacks[stack] = checked(stacks.GetValueOrDefault(stack) + count);
        }

        if (stacks.Values.All(v => v == 0))
            throw new MalformedProfileException("no samples");
        return Build(stacks, sampleType, unit, periodNanos);
    }

    private static Profile Build(Dictionary<string, long> stacks, string sampleType, string unit, long periodNanos)
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
        foreach (var (stack, count) in stacks)
        {
            var sample = new Sample();
            var frames = stack.Split(';');
            // Folded text is root first; pprof's locations are leaf first.
            for (var i = frames.Length - 1; i >= 0; i--)
            {
                var name = frames[i].Length == 0 ? "[unknown]" : frames[i];
                if (!locations.TryGetValue(name, out var id))
                {
                    id = (ulong)locations.Count + 1;
                    locations[name] = id;
                    profile.Function.Add(new Function { Id = id, Name = Intern(name), SystemName = Intern(name) });
                    var location = new Location { Id = id };
                    location.Line.Add(new Line { FunctionId = id });
                    profile.Location.Add(location);
                }

                sample.LocationId.Add(id);
            }

            if (sampled)
            {
                sample.Value.Add(count);
                sample.Value.Add(checked(count * periodNanos));
            }
            else
            {
                sample.Value.Add(count);
            }

            profile.Sample.Add(sample);
        }

        return profile;
    }
}
