using System.Text;
using Hotpath.Pprof;
using Hotpath.Pprof.Proto;

namespace Hotpath.Agent;

/// <summary>
/// A resolved stack frame: its function's name and, when known, its source file, the function's first line and
/// the line of the statement the frame was at (0 when unknown).
/// </summary>
public readonly record struct ProfileFrame(string Function, string? File = null, int StartLine = 0, int Line = 0);

/// <summary>
/// Builds a pprof profile from resolved stacks: functions and locations interned by frame, samples with the
/// same stack and labels summed. What the agent's sessions feed with what EventPipe gives them.
/// </summary>
public sealed class PprofBuilder
{
    private readonly Profile _profile = new();
    private readonly Dictionary<string, long> _strings = new(StringComparer.Ordinal) { [""] = 0 };
    private readonly Dictionary<ProfileFrame, ulong> _locations = [];
    private readonly Dictionary<(string Function, string? File, int StartLine), ulong> _functions = [];
    private readonly Dictionary<string, Sample> _samples = new(StringComparer.Ordinal);
    private readonly List<ulong> _stack = new(64);
    private readonly StringBuilder _key = new(256);

    /// <param name="sampleTypes">Type and unit of each value, e.g. ("samples", "count"), ("cpu", "nanoseconds").</param>
    /// <param name="periodType">What one period measures, e.g. ("cpu", "nanoseconds").</param>
    public PprofBuilder(IReadOnlyList<(string Type, string Unit)> sampleTypes, (string Type, string Unit) periodType, long period)
    {
        ArgumentNullException.ThrowIfNull(sampleTypes);
        _profile.StringTable.Add("");
        foreach (var (type, unit) in sampleTypes)
            _profile.SampleType.Add(new Pprof.Proto.ValueType { Type = Intern(type), Unit = Intern(unit) });
        _profile.PeriodType = new Pprof.Proto.ValueType { Type = Intern(periodType.Type), Unit = Intern(periodType.Unit) };
        _profile.Period = period;
    }

    public int SampleCount => _samples.Count;

    /// <summary>How many values each sample has.</summary>
    public int SampleTypeCount => _profile.SampleType.Count;

    /// <summary>Adds values for a stack (leaf first), optionally with a string label such as the allocated type.</summary>
    public void Add(IReadOnlyList<ProfileFrame> framesLeafFirst, ReadOnlySpan<long> values, string? labelKey = null, string? labelValue = null)
    {
        ArgumentNullException.ThrowIfNull(framesLeafFirst);
        if (values.Length != _profile.SampleType.Count)
            throw new ArgumentException($"{values.Length} values for {_profile.SampleType.Count} sample types", nameof(values));

        // The sample's key: its location ids and label.
        _stack.Clear();
        _key.Clear();
        foreach (var frame in framesLeafFirst)
        {
            var id = Location(frame);
            _stack.Add(id);
            _key.Append(id).Append(',');
        }

        var key = _key.Append('\u0001').Append(labelKey).Append('\u0001').Append(labelValue).ToString();
        if (!_samples.TryGetValue(key, out var sample))
        {
            sample = new Sample();
            sample.LocationId.AddRange(_stack);
            sample.Value.AddRange(new long[values.Length]);
            if (labelKey is not null)
                sample.Label.Add(new Label { Key = Intern(labelKey), Str = Intern(labelValue ?? "") });
            _samples[key] = sample;
            _profile.Sample.Add(sample);
        }

        for (var i = 0; i < values.Length; i++)
            sample.Value[i] += values[i];
    }

    /// <summary>
    /// Shares <paramref name="total"/> among the samples' values of one sample type, in proportion to what
    /// they hold (largest remainders rounded up, so the sum is exact): for measured totals, such as the CPU
    /// time the kernel counted, that the samples only estimate.
    /// </summary>
    public void ScaleTo(int sampleType, long total)
    {
        var samples = _profile.Sample;
        var sum = samples.Sum(s => (double)s.Value[sampleType]);
        if (sum <= 0 || total < 0)
            return;
        var exact = samples.Select(s => s.Value[sampleType] * (total / sum)).ToArray();
        var given = 0L;
        for (var i = 0; i < samples.Count; i++)
        {
            samples[i].Value[sampleType] = (long)Math.Floor(exact[i]);
            given += samples[i].Value[sampleType];
        }

        foreach (var i in Enumerable.Range(0, samples.Count).OrderByDescending(i => exact[i] - Math.Floor(exact[i])).Take((int)Math.Min(samples.Count, total - given)))
            samples[i].Value[sampleType]++;
    }

    /// <summary>The profile, stamped with its window.</summary>
    public Profile Build(DateTimeOffset start, TimeSpan duration)
    {
        _profile.TimeNanos = UnixNanos.From(start);
        _profile.DurationNanos = duration.Ticks * 100;
        return _profile;
    }

    private ulong Location(ProfileFrame frame)
    {
        if (_locations.TryGetValue(frame, out var id))
            return id;
        id = (ulong)_profile.Location.Count + 1;
        _profile.Location.Add(new Location { Id = id, Line = { new Line { FunctionId = Function(frame), Line_ = frame.Line } } });
        _locations[frame] = id;
        return id;
    }

    /// <summary>A function is one however many of its lines the samples were at.</summary>
    private ulong Function(ProfileFrame frame)
    {
        var key = (frame.Function, frame.File, frame.StartLine);
        if (_functions.TryGetValue(key, out var id))
            return id;
        id = (ulong)_profile.Function.Count + 1;
        var name = Intern(frame.Function);
        _profile.Function.Add(new Function { Id = id, Name = name, SystemName = name, Filename = Intern(frame.File ?? ""), StartLine = frame.StartLine });
        _functions[key] = id;
        return id;
    }

    private long Intern(string s)
    {
        if (!_strings.TryGetValue(s, out var index))
        {
            index = _profile.StringTable.Count;
            _profile.StringTable.Add(s);
            _strings[s] = index;
        }

        return index;
    }
}
