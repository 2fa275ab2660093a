using Hotpath.Pprof;
using Hotpath.Pprof.Conversions;
using Hotpath.Pprof.Otlp;

namespace Hotpath.Service.Ingest;

/// <summary>
/// What both OTLP transports do with a request: convert every profile to pprof (within the decode memory
/// budget), check every one, then store them, so that a refused request stores nothing and its retry
/// duplicates nothing.
/// </summary>
public sealed class OtlpIngest(IngestService ingest, DecodeBudget budget)
{
    public const string Protocol = "otlp";

    // A parsed request's message tree takes up to this many bytes per encoded byte. Measured: real requests
    // 9-18x (Go profiles re-expressed as OTLP 12-18x, eBPF-profiler-shaped 10x); the worst a sender can
    // make is a run of empty messages, each an object and its lists for two bytes (empty samples 86x).
    public const int ParsedBytesPerByte = 96;

    /// <summary>What the message tree parsed from a request of <paramref name="encodedSize"/> bytes may take.</summary>
    public static long ParsedSize(long encodedSize) => encodedSize * ParsedBytesPerByte;

    /// <summary>Reserves the message tree of a request parsed before its reservation could be made (gRPC's).</summary>
    public DecodeReservation ReserveParsed(long encodedSize) => budget.Reserve(ParsedSize(encodedSize));

    /// <summary>Stores the profiles of a request whose parsed tree the caller has reserved (<see cref="ParsedSize"/>).</summary>
    /// <exception cref="InvalidRequestException">A profile that is not OTLP as its specification says, or labels past the limits.</exception>
    public async Task ExportAsync(IEnumerable<ResourceProfiles> resources, ProfilesDictionary? dictionary, CancellationToken cancellationToken)
    {
        List<OtlpProfile> converted;
        try
        {
            converted = OtlpProfiles.Convert(resources, dictionary, budget.PerProfileBytes);
        }
        catch (MalformedProfileException e)
        {
            throw new InvalidRequestException($"malformed profiles: {e.Message}");
        }

        var profiles = new List<(OtlpProfile Profile, IReadOnlyList<ProfileLabel> Labels)>(converted.Count);
        foreach (var profile in converted)
        {
            var labels = LabelLimits.Sorted([.. profile.Labels.Select(l => new ProfileLabel(l.Key, l.Value))], "attributes");
            ingest.Check(profile.Service, profile.Body);
            profiles.Add((profile, labels));
        }

        foreach (var (profile, labels) in profiles)
            await ingest.StoreAsync(Protocol, profile.Service, null, profile.InstanceId, labels, null, profile.Body, cancellationToken).ConfigureAwait(false);
    }
}
