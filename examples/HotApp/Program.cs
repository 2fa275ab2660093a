using System.Diagnostics;
using HotApp;

// Known hot paths, like profefe's hotapp: one busy thread that spends 60% of its time in Work.Checksum and
// 40% in Work.Parse, in 10 ms slices, until stopped (or for --seconds N).
var seconds = args.Length == 2 && args[0] == "--seconds" ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 0;
Console.WriteLine($"HotApp {Environment.ProcessId} running{(seconds > 0 ? $" for {seconds} s" : "")}: 60% Work.Checksum, 40% Work.Parse");
var until = seconds > 0 ? Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency : long.MaxValue;
var sink = 0L;
while (Stopwatch.GetTimestamp() < until)
{
    sink += Work.Checksum(TimeSpan.FromMilliseconds(6));
    sink += Work.Parse(TimeSpan.FromMilliseconds(4));
}

Console.WriteLine(sink);
