using Microsoft.Extensions.Logging;

namespace Hotpath.Cli;

/// <summary>
/// Log lines of the library pieces the CLI runs (the agent's uploader) on the command's error output, one
/// timestamped line each, as the commands print their own progress.
/// </summary>
public sealed class CliLogger<T>(TextWriter error) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (IsEnabled(logLevel))
            error.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} {formatter(state, exception)}");
    }
}
