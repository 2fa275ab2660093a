namespace Hotpath.Pprof;

/// <summary>
/// The memory that decoding may take: a limit per profile, and one shared by every decode in flight. A
/// decode reserves what it allocates (the inflated bytes and every array it grows, garbage of growth
/// included) as it goes, so a hostile profile is stopped at its limit before it allocates past it. What a
/// finished decode gives back still counts until a full garbage collection has run, since until then the
/// process still holds it; when that garbage stands in the way, the budget collects it first. So decodes
/// in flight and their uncollected garbage never add up to more than <see cref="TotalBytes"/>.
/// </summary>
public sealed class DecodeBudget
{
    /// <summary>A decode at least this large leaves garbage worth collecting promptly.</summary>
    public const long LargeDecodeBytes = 64L * 1024 * 1024;

    private readonly Lock _lock = new();
    private long _inUse;
    private long _uncollected;
    private int _fullCollections = GC.CollectionCount(GC.MaxGeneration);

    public DecodeBudget(long totalBytes, long perProfileBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perProfileBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(totalBytes, perProfileBytes);
        TotalBytes = totalBytes;
        PerProfileBytes = perProfileBytes;
    }

    /// <summary>No shared limit, and a per-profile one as large as an array may be: for tools and tests.</summary>
    public static DecodeBudget Unlimited { get; } = new(long.MaxValue, long.MaxValue);

    /// <summary>What all decodes in flight may reserve together.</summary>
    public long TotalBytes { get; }

    /// <summary>What one profile's decode may reserve.</summary>
    public long PerProfileBytes { get; }

    /// <summary>What decodes in flight hold now.</summary>
    public long InUseBytes
    {
        get
        {
            lock (_lock)
                return _inUse;
        }
    }

    /// <summary>
    /// Reserves memory for a decode that is not a pprof profile's (an OpenTelemetry request's message tree),
    /// held until the reservation is disposed.
    /// </summary>
    /// <exception cref="ProfileTooLargeException">More than <see cref="PerProfileBytes"/>.</exception>
    /// <exception cref="DecodeBudgetExhaustedException">Other decodes hold the rest of the shared budget.</exception>
    public DecodeReservation Reserve(long bytes)
    {
        var meter = new DecodeMeter();
        meter.Begin(this);
        meter.Reserve(bytes);
        return new DecodeReservation(meter);
    }

    /// <summary>Called when a decode that held at least <see cref="LargeDecodeBytes"/> gives its memory back.</summary>
    public event Action? LargeDecodeEnded;

    internal bool TryTake(long bytes)
    {
        lock (_lock)
        {
            if (TryTakeLocked(bytes))
                return true;
            if (_uncollected == 0)
                return false;
            // Garbage of earlier decodes stands in the way: collect it (rare: only after large decodes).
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
            return TryTakeLocked(bytes);
        }
    }

    /// <summary>Ends a reservation; <paramref name="garbage"/> of it was dropped, and counts until collected.</summary>
    internal void Give(long bytes, long garbage)
    {
        lock (_lock)
        {
            _inUse -= bytes;
            _uncollected += garbage;
        }

        if (bytes >= LargeDecodeBytes)
            LargeDecodeEnded?.Invoke();
    }

    private bool TryTakeLocked(long bytes)
    {
        var collections = GC.CollectionCount(GC.MaxGeneration);
        if (collections != _fullCollections)
        {
            _fullCollections = collections;
            _uncollected = 0;
        }

        if (bytes > TotalBytes - _inUse - _uncollected)
            return false;
        _inUse += bytes;
        return true;
    }
}

/// <summary>Memory reserved by <see cref="DecodeBudget.Reserve"/>; disposing gives it back (as garbage until collected).</summary>
public sealed class DecodeReservation : IDisposable
{
    private readonly DecodeMeter _meter;

    internal DecodeReservation(DecodeMeter meter) => _meter = meter;

    /// <summary>Reserves more, for a decode that grows as it goes (folded text).</summary>
    /// <exception cref="ProfileTooLargeException">The reservation would pass the per-profile limit.</exception>
    /// <exception cref="DecodeBudgetExhaustedException">Other decodes hold the rest of the shared budget.</exception>
    public void Grow(long bytes) => _meter.Reserve(bytes);

    public void Dispose() => _meter.End(0);
}

/// <summary>One decode's reservation against a <see cref="DecodeBudget"/>; reused decode after decode.</summary>
internal sealed class DecodeMeter
{
    private DecodeBudget _budget = DecodeBudget.Unlimited;
    private long _reserved;

    public void Begin(DecodeBudget budget)
    {
        _budget = budget;
        _reserved = 0;
    }

    /// <summary>Reserves memory about to be allocated.</summary>
    /// <exception cref="ProfileTooLargeException">The profile would pass its own limit.</exception>
    /// <exception cref="DecodeBudgetExhaustedException">Other decodes hold the rest of the shared budget.</exception>
    public void Reserve(long bytes)
    {
        if (bytes > _budget.PerProfileBytes - _reserved)
            throw new ProfileTooLargeException(_budget.PerProfileBytes, ProfileLimit.DecodedMemory);
        if (!_budget.TryTake(bytes))
            throw new DecodeBudgetExhaustedException(_budget.TotalBytes);
        _reserved += bytes;
    }

    /// <summary>Ends the reservation; of it, <paramref name="stillHeld"/> bytes stay in arrays kept for the next decode, the rest is garbage.</summary>
    public void End(long stillHeld)
    {
        var reserved = _reserved;
        _reserved = 0;
        if (reserved > 0)
            _budget.Give(reserved, Math.Max(0, reserved - stillHeld));
    }
}
