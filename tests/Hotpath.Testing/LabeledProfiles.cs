using Google.Protobuf;

namespace Hotpath.Testing;

/// <summary>Real profiles of the corpus with pprof sample labels added, as Go's pprof labels and the .NET agent's allocated types carry them.</summary>
public static class LabeledProfiles
{
    /// <summary>cpu_1 with a pprof sample label on every sample: worker=hash on those under crypto/sha256, worker=sort on the rest.</summary>
    public static (byte[] Body, long Hash, long Sort) Workers(DateTimeOffset time)
    {
        var profile = TestData.Decode("cpu_1.pb.gz");
        profile.TimeNanos = Hotpath.Pprof.UnixNanos.From(time);
        var key = profile.StringTable.Count;
        profile.StringTable.Add("worker");
        profile.StringTable.Add("hash");
        profile.StringTable.Add("sort");
        var sha = profile.Function.Where(f => profile.StringTable[(int)f.Name].StartsWith("crypto/sha256", StringComparison.Ordinal)).Select(f => f.Id).ToHashSet();
        var shaLocations = profile.Location.Where(l => l.Line.Any(line => sha.Contains(line.FunctionId))).Select(l => l.Id).ToHashSet();
        long hash = 0, sort = 0;
        foreach (var sample in profile.Sample)
        {
            var isHash = sample.LocationId.Any(shaLocations.Contains);
            sample.Label.Add(new Pprof.Proto.Label { Key = key, Str = isHash ? key + 1 : key + 2 });
            if (isHash)
                hash += sample.Value[1];
            else
                sort += sample.Value[1];
        }

        return (profile.ToByteArray(), hash, sort);
    }
}
