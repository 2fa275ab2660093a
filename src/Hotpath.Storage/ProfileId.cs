using System.Security.Cryptography;

namespace Hotpath.Storage;

/// <summary>
/// Profile ids: 16 characters of lower-case Crockford base32 over a 48-bit millisecond timestamp and 32 bits
/// of randomness, so they sort by write time, are URL-safe and never contain '+'.
/// </summary>
public static class ProfileId
{
    public const int Length = 16;
    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

    private static readonly Lock Gate = new();
    private static long _lastMillis;
    private static uint _lastRandom;

    public static string New(TimeProvider? time = null)
    {
        var millis = (time ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds();
        uint random;
        lock (Gate)
        {
            // Within one millisecond, count up from a random start: ids from this process never collide.
            if (millis <= _lastMillis)
            {
                millis = _lastMillis;
                random = ++_lastRandom;
                if (random == 0)
                    millis = ++_lastMillis;
            }
            else
            {
                random = (uint)RandomNumberGenerator.GetInt32(int.MaxValue);
                _lastMillis = millis;
            }

            _lastRandom = random;
        }

        return Encode((UInt128)(ulong)millis << 32 | random);
    }

    private static string Encode(UInt128 bits) =>
        string.Create(Length, bits, static (chars, value) =>
        {
            for (var i = chars.Length - 1; i >= 0; i--)
            {
                chars[i] = Alphabet[(int)(value & 31)];
                value >>= 5;
            }
        });

    /// <summary>
    /// The smallest id written at or after <paramref name="unixNanos"/>: an id compares (ordinally) below it
    /// exactly when it was written before that millisecond. Retention counts a profile's age from its write by it.
    /// </summary>
    public static string FirstAt(long unixNanos) => At(unixNanos, 0);

    /// <summary>The id written at <paramref name="unixNanos"/> (to the millisecond) with the given low bits.</summary>
    public static string At(long unixNanos, uint sequence)
    {
        var millis = Math.Clamp(unixNanos / 1_000_000, 0, (1L << 48) - 1);
        return Encode((UInt128)(ulong)millis << 32 | sequence);
    }

    /// <summary>True when the text could be an id; anything else cannot exist and needs no lookup.</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> id)
    {
        if (id.Length != Length)
            return false;
        foreach (var c in id)
        {
            if (!Alphabet.Contains(c))
                return false;
        }

        return true;
    }
}
