namespace Hotpath.Agent;

/// <summary>
/// Threads' names as the operating system has them: on Linux the runtime gives each thread its <c>Thread.Name</c>
/// (cut to 15 bytes; its own threads are ".NET TP Worker", ".NET Finalizer", …), readable for a process of the same
/// user in process and from outside alike. EventPipe's samples carry only the thread's id.
/// </summary>
internal static class ThreadNames
{
    /// <summary>The name of thread <paramref name="threadId"/> of process <paramref name="processId"/>, or null when it has ended or the system does not say.</summary>
    public static string? Read(int processId, long threadId)
    {
        if (!OperatingSystem.IsLinux())
            return null;
        try
        {
            return File.ReadAllText($"/proc/{processId}/task/{threadId}/comm").TrimEnd('\n') is { Length: > 0 } name ? name : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // the thread ended
        }
    }
}
