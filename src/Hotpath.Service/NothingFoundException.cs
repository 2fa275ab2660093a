namespace Hotpath.Service;

/// <summary>The selection holds no profile.</summary>
/// <param name="detail">What was looked for, when it helps; null: nothing more to say.</param>
public sealed class NothingFoundException(string? detail = null) : Exception(detail ?? "nothing found")
{
    public string? Detail { get; } = detail;
}
