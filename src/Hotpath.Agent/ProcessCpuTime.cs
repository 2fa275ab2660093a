using System.Diagnostics;
using System.Globalization;

namespace Hotpath.Agent;

/// <summary>A process's CPU time so far, user and system, by the kernel's count.</summary>
public static class ProcessCpuTime
{
    /// <summary>Nanoseconds of CPU the process has used; null when it cannot be read (gone, not ours).</summary>
    public static long? Nanoseconds(int processId)
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                // stat(5): utime and stime, fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
                var stat = File.ReadAllText($"/proc/{processId}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 10_000_000;
            }

            using var process = Process.GetProcessById(processId);
            return process.TotalProcessorTime.Ticks * 100;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
