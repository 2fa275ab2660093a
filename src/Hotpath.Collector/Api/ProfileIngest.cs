using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Pprof.Conversions;
using Hotpath.Storage;

namespace Hotpath.Collector.Api;

/// <summary>
/// What every ingest protocol does with a received pprof body: decode and validate it once, take its time
/// and main value, find its type from its sample types when the protocol named none, store it as received,
/// and count it. The protocols differ only in how they name things and in the status of a body that is not
/// a profile (profefe: 400; Pyroscope: 422).
/// </summary>
public sealed class ProfileIngest(IProfileWriter writer, ProfileDecoder decoder, RawProfilePool decoded, CollectorMetrics metrics,
    TimeProvider time, ILogger<ProfileIngest> logger)
{
    /// <param name="type">Null: from the profile's sample types.</param>
    /// <param name="createdAt">Used when the profile carries no time of its own; null: now.</param>
    public async Task<ProfileMeta> StoreAsync(string protocol, string service, ProfileType? type, string instanceId, IReadOnlyList<ProfileLabel> labels,
        long? createdAt, ReadOnlyMemory<byte> body, int malformedStatus, CancellationToken cancellationToken)
    {
        ApiQuery.Service(service, "service");
        var created = createdAt ?? UnixNanos.From(time.GetUtcNow());
        long value = 0;
        // Decoded once, here: the store may fold it into its pre-merged pieces instead of decoding it again.
        var profile = type == ProfileType.Trace ? null : decoded.Rent();
        try
        {
            if (profile is not null)
            {
                Validate(profile, service, body, malformedStatus);
                if (profile.TimeNanos != 0)
                    created = profile.TimeNanos;
                value = profile.Total(profile.DefaultSampleTypeIndex());
                type ??= PyroscopeTypes.FromSampleTypes([.. Enumerable.Range(0, profile.SampleTypeCount).Select(profile.SampleTypeName)]);
            }

            // The id carries the write time, from which retention counts (ProfileId.FirstAt): the collector's clock.
            var meta = await writer.WriteAsync(new NewProfile(service, type!.Value, instanceId, labels, created, value, ProfileId.New(time)) { Decoded = profile },
                body, cancellationToken);
            metrics.ProfilesWritten.WithLabels(meta.Type.ToWire()).Inc();
            metrics.ProfilesReceived.WithLabels(protocol).Inc();
            return meta;
        }
        finally
        {
            if (profile is not null)
                decoded.Return(profile);
        }
    }

    /// <summary>Validates a body without storing it: for a request of several profiles, all checked before any is stored.</summary>
    public void Check(string service, ReadOnlyMemory<byte> body, int malformedStatus)
    {
        ApiQuery.Service(service, "service");
        try
        {
            decoder.Inspect(body);
        }
        catch (Exception e) when (e is MalformedProfileException or ProfileTooLargeException)
        {
            throw Refusal(e, service, malformedStatus);
        }
    }

    // Traces are stored as received; everything else must be a valid pprof profile.
    private void Validate(RawProfile profile, string service, ReadOnlyMemory<byte> body, int malformedStatus)
    {
        try
        {
            decoder.Load(body, profile);
        }
        catch (Exception e) when (e is MalformedProfileException or ProfileTooLargeException)
        {
            throw Refusal(e, service, malformedStatus);
        }
    }

    private ApiException Refusal(Exception e, string service, int malformedStatus)
    {
        Log.ProfileRejected(logger, service, e.Message);
        return e is ProfileTooLargeException large
            ? ApiException.TooLarge(large)
            : new ApiException(malformedStatus, $"malformed profile ({e.Message})");
    }
}
