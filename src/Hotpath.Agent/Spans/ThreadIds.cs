using System.Runtime.InteropServices;

namespace Hotpath.Agent.Spans;

/// <summary>The operating system's id of the calling thread: the id EventPipe's events carry.</summary>
internal static partial class ThreadIds
{
    public static long Current() => OperatingSystem.IsLinux() ? GetTid() : Environment.CurrentManagedThreadId;

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();
}
