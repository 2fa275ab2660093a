namespace Hotpath.Testing;

/// <summary>The system's clock moved by a fixed amount: a collector that lives <c>ahead</c> in the future.</summary>
public sealed class ShiftedClock(TimeSpan ahead) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + ahead;
}
