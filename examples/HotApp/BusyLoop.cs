using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HotApp;

/// <summary>
/// The busy thread: 60% of its time in Work.Checksum and 40% in Work.Parse, in slices of 60 and 40 ms whose
/// sizes it keeps adjusting so that the split holds whatever else runs on the machine (the profiler included).
/// </summary>
public sealed class BusyLoop
{
    private const int ChecksumMilliseconds = 60, ParseMilliseconds = 40;
    private long _checksumSlice, _parseSlice;

    /// <summary>Measures the first slice sizes on this machine (about a second).</summary>
    public BusyLoop() => (_checksumSlice, _parseSlice) = Work.Calibrate(ChecksumMilliseconds, ParseMilliseconds);

    public long ChecksumRounds { get; private set; }

    public long ParseRounds { get; private set; }

    public TimeSpan InChecksum { get; private set; }

    public TimeSpan InParse { get; private set; }

    public long Sink { get; private set; }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Run(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var t0 = Stopwatch.GetTimestamp();
            Sink = Work.Checksum(_checksumSlice, Sink);
            var t1 = Stopwatch.GetTimestamp();
            Sink = Work.Parse(_parseSlice, Sink);
            var checksumTime = Stopwatch.GetElapsedTime(t0, t1);
            var parseTime = Stopwatch.GetElapsedTime(t1);
            InChecksum += checksumTime;
            InParse += parseTime;
            ChecksumRounds += _checksumSlice;
            ParseRounds += _parseSlice;
            _checksumSlice = Work.Adjust(_checksumSlice, ChecksumMilliseconds, checksumTime);
            _parseSlice = Work.Adjust(_parseSlice, ParseMilliseconds, parseTime);
        }
    }
}
