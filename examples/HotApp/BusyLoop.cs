using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HotApp;

/// <summary>
/// The busy thread: 60% of its time in Work.Checksum and 40% in Work.Parse. Checksum runs slices of about
/// 60 ms; each Parse slice is sized to bring Parse's total time to 40/60 of Checksum's, so that the split
/// holds over any few seconds whatever else runs on the machine (the profiler included).
/// </summary>
public sealed class BusyLoop
{
    private const int ChecksumMilliseconds = 60, ParseMilliseconds = 40;
    private long _checksumSlice;
    private double _parseRoundsPerMillisecond;

    /// <summary>Measures the first slice sizes on this machine (about a second).</summary>
    public BusyLoop()
    {
        (_checksumSlice, var parseSlice) = Work.Calibrate(ChecksumMilliseconds, ParseMilliseconds);
        _parseRoundsPerMillisecond = (double)parseSlice / ParseMilliseconds;
    }

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
            var checksumTime = Stopwatch.GetElapsedTime(t0);
            InChecksum += checksumTime;
            ChecksumRounds += _checksumSlice;
            _checksumSlice = Work.Adjust(_checksumSlice, ChecksumMilliseconds, checksumTime);

            // Sized by what Parse's share lacks so far rather than by the last slice alone: on a busy machine
            // slices are stretched at random by the scheduler, and fixed-length slices under such noise
            // settled at 54/46 (measured with four test projects on two cores); this way the next slice
            // makes up for the last one.
            var dueMilliseconds = (InChecksum * ParseMilliseconds / ChecksumMilliseconds - InParse).TotalMilliseconds;
            var largest = Math.Max(1, 3 * ParseMilliseconds * _parseRoundsPerMillisecond);
            var parseSlice = (long)Math.Clamp(dueMilliseconds * _parseRoundsPerMillisecond, 1, largest);
            var t1 = Stopwatch.GetTimestamp();
            Sink = Work.Parse(parseSlice, Sink);
            var parseTime = Stopwatch.GetElapsedTime(t1);
            InParse += parseTime;
            ParseRounds += parseSlice;
            _parseRoundsPerMillisecond += (parseSlice / Math.Max(0.01, parseTime.TotalMilliseconds) - _parseRoundsPerMillisecond) / 10;
        }
    }
}
