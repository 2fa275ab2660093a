using Hotpath.Pprof;
using Hotpath.Pprof.Conversions;
using Hotpath.Storage;
using Microsoft.Extensions.Logging;

namespace Hotpath.Service.Ingest;

/// <summary>
/// What every ingest protocol does with a received pprof body: decode and validate it once, take its time
/// and main value, find its type from its sample types when the protocol named none, store it as received,
/// and count it. A body that is not a profile is a <see cref="MalformedProfileException"/> and one past the
/// limits a <see cref="ProfileTooLargeException"/>; each protocol's adapter says so in its own shape.
/// </summary>
public sealed partial class IngestService(IProfileWriter writer, ProfileDecoder decoder, RawProfilePool decoded, IServiceMetrics metrics,
    TimeProvider time, ILogger<IngestService> logger)
{
    /// <param name="protocol">The protocol it came by, for the metrics.</param>
    /// <param name="type">Null: from the profile's sample types.</param>
    /// <param name="createdAt">Used when the profile carries no time of its own; null: now.</param>
    public async Task<ProfileMeta> StoreAsync(string protocol, string service, ProfileType? type, string instanceId, IReadOnlyList<ProfileLabel> labels,
        long? createdAt, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        LabelLimits.Service(service, "service");
        var created = createdAt ?? UnixNanos.From(time.GetUtcNow());
        long value = 0;
        // Decoded once, here: the store may fold it into its pre-merged pieces instead of decoding it again.
        var profile = type == ProfileType.Trace ? null : decoded.Rent();
        try
        {
            if (profile is not null)
            {
                try
                {
                    decoder.Load(body, profile);
                }
                catch (Exception e) when (e is MalformedProfileException or ProfileTooLargeException)
                {
                    LogRejected(service, e.Message);
                    throw;
                }

                if (profile.TimeNanos != 0)
                    created = profile.TimeNanos;
                value = profile.Total(profile.DefaultSampleTypeIndex());
                type ??= PyroscopeTypes.FromSampleTypes([.. Enumerable.Range(0, profile.SampleTypeCount).Select(profile.SampleTypeName)]);
            }

            // The id carries the write time, from which retention counts (ProfileId.FirstAt): the collector's clock.
            var meta = await writer.WriteAsync(new NewProfile(service, type!.Value, instanceId, labels, created, value, ProfileId.New(time)) { Decoded = profile },
                body, cancellationToken).ConfigureAwait(false);
            metrics.ProfileStored(protocol, meta.Type);
            return meta;
        }
        finally
        {
            if (profile is not null)
                decoded.Return(profile);
        }
    }

    /// <summary>Validates a body without storing it: for a request of several profiles, all checked before any is stored.</summary>
    public void Check(string service, ReadOnlyMemory<byte> body)
    {
        LabelLimits.Service(service, "service");
        try
        {
            decoder.Inspect(body);
        }
        catch (Exception e) when (e is MalformedProfileException or ProfileTooLargeException)
        {
            LogRejected(service, e.Message);
            throw;
        }
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Rejected profile for {Service}: {Reason}")]
    private partial void LogRejected(string service, string reason);
}
