using Google.Protobuf;
using Hotpath.Pprof;

namespace Hotpath.Testing;

/// <summary>Variants of the corpus profiles for tests that need controlled times.</summary>
public static class ProfileBytes
{
    /// <summary>The corpus profile re-stamped with the given time (zero: no time), gzipped.</summary>
    public static byte[] WithTime(string file, DateTimeOffset? time)
    {
        var profile = TestData.Decode(file);
        profile.TimeNanos = time is { } t ? (t.UtcTicks - DateTime.UnixEpoch.Ticks) * 100 : 0;
        return ProfileEncoder.ToGzipBytes(profile);
    }

    /// <summary>The API's time layout.</summary>
    public static string Format(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);

    public static byte[] Plain(string file) => TestData.Decode(file).ToByteArray();
}
