using System.Text;
using Hotpath.Pprof.Conversions;
using Hotpath.Pprof.Proto;
using ValueType = Hotpath.Pprof.Proto.ValueType;

namespace Hotpath.Pprof;

/// <summary>
/// Builds a pprof profile from resolved stacks: strings, functions and locations interned (a function is one
/// however many of its lines the samples were at), samples of the same stack and label summed. What the agent's
/// sessions feed with what EventPipe and perf give them, and what folded text becomes. Given a
/// <see cref="DecodeReservation"/>, what it builds is reserved as it grows, as a decode is.
/// </summary>
public sealed class ProfileBuilder
{
    // What the objects take, estimated from their .NET layouts with room for collections growing by doubling:
    // a sample and its ids per frame; a function, its location, line, string-table entries and lookups.
    private const long SampleBytes = 160;
    private const long FrameBytes = 16;
    private const long LocationBytes = 400;

    private readonly Profile _profile = new();
    private readonly StringTableBuilder _strings;
    private readonly DecodeReservation? _memory;
    private readonly Dictionary<ProfileFrame, ulong> _locations = [];
    private readonly Dictionary<string, ulong> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Function, string? File, int StartLine), ulong> _functions = [];
    private readonly Dictionary<string, Sample> _samples = new(StringComparer.Ordinal);
    private readonly List<ulong> _stack = new(64);
    private readonly StringBuilder _key = new(256);

    /// <param name="sampleTypes">Type and unit of each value, e.g. ("samples", "count"), ("cpu", "nanoseconds").</param>
    /// <param name="periodType">What one period measures, e.g. ("cpu", "nanoseconds"); null for a profile that is not sampled.</param>
    /// <param name="memory">What the profile takes is reserved here; null: unbounded.</param>
    public ProfileBuilder(IReadOnlyList<(string Type, string Unit)> sampleTypes, (string Type, string Unit)? periodType = null, long period = 0,
        DecodeReservation? memory = null)
    {
        ArgumentNullException.ThrowIfNull(sampleTypes);
        _strings = new StringTableBuilder(_profile);
        _memory = memory;
        foreach (var (type, unit) in sampleTypes)
            _profile.SampleType.Add(new ValueType { Type = Intern(type), Unit = Intern(unit) });
        if (periodType is var (periodName, periodUnit))
        {
            _profile.PeriodType = new ValueType { Type = Intern(periodName), Unit = Intern(periodUnit) };
            _profile.Period = period;
        }
    }

    public int SampleCount => _profile.Sample.Count;

    /// <summary>How many values each sample has.</summary>
    public int SampleTypeCount => _profile.SampleType.Count;

    /// <summary>Adds values for a stack (leaf first), optionally with a string label such as the allocated type; summed with the same stack and label's.</summary>
    public void Add(IReadOnlyList<ProfileFrame> framesLeafFirst, ReadOnlySpan<long> values, string? labelKey = null, string? labelValue = null)
    {
        if (labelKey is null)
            Add(framesLeafFirst, values, []);
        else
            Add(framesLeafFirst, values, [KeyValuePair.Create(labelKey, labelValue ?? "")]);
    }

    /// <summary>Adds a sample with string labels; one with the same stack and labels is summed into.</summary>
    public void Add(IReadOnlyList<ProfileFrame> framesLeafFirst, ReadOnlySpan<long> values, ReadOnlySpan<KeyValuePair<string, string>> labels)
    {
        ArgumentNullException.ThrowIfNull(framesLeafFirst);
        CheckValues(values);
        _stack.Clear();
        _key.Clear();
        foreach (var frame in framesLeafFirst)
        {
            var id = Location(frame);
            _stack.Add(id);
            _key.Append(id).Append(',');
        }

        foreach (var label in labels)
            _key.Append('\u0001').Append(label.Key).Append('\u0001').Append(label.Value);
        var key = _key.ToString();
        if (!_samples.TryGetValue(key, out var sample))
        {
            sample = NewSample(_stack.Count, values.Length);
            sample.LocationId.AddRange(_stack);
            foreach (var label in labels)
                sample.Label.Add(new Label { Key = Intern(label.Key), Str = Intern(label.Value) });
            _samples[key] = sample;
        }

        for (var i = 0; i < values.Length; i++)
            sample.Value[i] += values[i];
    }

    /// <summary>Adds a sample of locations (leaf first, from <see cref="Location(ReadOnlySpan{char})"/>) as it is, not summed with another: for stacks known to be distinct.</summary>
    public void AddSample(ReadOnlySpan<ulong> locationsLeafFirst, ReadOnlySpan<long> values)
    {
        CheckValues(values);
        var sample = NewSample(locationsLeafFirst.Length, values.Length);
        foreach (var id in locationsLeafFirst)
            sample.LocationId.Add(id);
        for (var i = 0; i < values.Length; i++)
            sample.Value[i] = values[i];
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

    /// <summary>The profile as built.</summary>
    public Profile Build() => _profile;

    /// <summary>The profile, stamped with its window.</summary>
    public Profile Build(DateTimeOffset start, TimeSpan duration)
    {
        _profile.TimeNanos = UnixNanos.From(start);
        _profile.DurationNanos = duration.Ticks * 100;
        return _profile;
    }

    /// <summary>The location of a frame known by its function's name only (folded text), added on first use.</summary>
    public ulong Location(ReadOnlySpan<char> function) =>
        _byName.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(function, out var id) ? id : Location(new ProfileFrame(function.ToString()));

    /// <summary>The location of a frame, added on first use.</summary>
    public ulong Location(ProfileFrame frame)
    {
        var byName = frame is { File: null, StartLine: 0, Line: 0 };
        if (byName ? _byName.TryGetValue(frame.Function, out var id) : _locations.TryGetValue(frame, out id))
            return id;
        _memory?.Grow(LocationBytes + 2L * frame.Function.Length);
        id = (ulong)_profile.Location.Count + 1;
        _profile.Location.Add(new Location { Id = id, Line = { new Line { FunctionId = Function(frame), Line_ = frame.Line } } });
        if (byName)
            _byName[frame.Function] = id;
        else
            _locations[frame] = id;
        return id;
    }

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

    private Sample NewSample(int frames, int values)
    {
        _memory?.Grow(SampleBytes + FrameBytes * frames);
        var sample = new Sample();
        sample.Value.AddRange(new long[values]);
        _profile.Sample.Add(sample);
        return sample;
    }

    private void CheckValues(ReadOnlySpan<long> values)
    {
        if (values.Length != _profile.SampleType.Count)
            throw new ArgumentException($"{values.Length} values for {_profile.SampleType.Count} sample types", nameof(values));
    }

    private long Intern(string text) => _strings.Intern(text);
}
