using Hotpath.Pprof;
using Hotpath.Service;
using Hotpath.Storage;
using Prometheus;

namespace Hotpath.Collector.Hosting;

/// <summary>The collector's Prometheus metrics, in a registry of its own so that two collectors in one process stay apart.</summary>
public sealed class CollectorMetrics : IServiceMetrics
{
    public CollectorMetrics(IStorageSize storage, IRollupStatus rollups, IJournalStatus journal)
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Requests = factory.CreateCounter("hotpath_http_requests_total", "HTTP requests by route, method and status code.",
            new CounterConfiguration { LabelNames = ["route", "method", "code"] });
        ProfilesWritten = factory.CreateCounter("hotpath_profiles_written_total", "Profiles stored, by type.",
            new CounterConfiguration { LabelNames = ["type"] });
        ProfilesReceived = factory.CreateCounter("hotpath_profiles_received_total", "Profiles stored, by the protocol that brought them (profefe, pyroscope, otlp).",
            new CounterConfiguration { LabelNames = ["protocol"] });
        BytesReceived = factory.CreateCounter("hotpath_received_bytes_total", "Bytes of profile bodies received.");
        MergeDuration = factory.CreateHistogram("hotpath_merge_duration_seconds", "Time to read, decode and merge profiles for one merge request.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });
        MergedProfiles = factory.CreateHistogram("hotpath_merge_profiles", "Profiles read by one merge request.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 4, 9) });
        var storeSize = factory.CreateGauge("hotpath_store_size_bytes", "Bytes the store takes on disk.");
        var pending = factory.CreateGauge("hotpath_rollup_pending_buckets", "Buckets written since their pre-merged piece was built.");
        var rollupSize = factory.CreateGauge("hotpath_rollup_size_bytes", "Bytes of the pre-merged pieces.");
        var journaled = factory.CreateGauge("hotpath_journal_pending_profiles", "Profiles acknowledged into the write journal that the remote engine has not taken yet.");
        Registry.AddBeforeCollectCallback(() =>
        {
            journaled.Set(journal.PendingProfiles);
            storeSize.Set(storage.SizeBytes);
            pending.Set(rollups.PendingBuckets);
            rollupSize.Set(rollups.RollupBytes);
        });
    }

    public CollectorRegistry Registry { get; }

    public Counter Requests { get; }

    public Counter ProfilesWritten { get; }

    public Counter ProfilesReceived { get; }

    public Counter BytesReceived { get; }

    public Histogram MergeDuration { get; }

    public Histogram MergedProfiles { get; }

    public void ProfileStored(string protocol, ProfileType type)
    {
        ProfilesWritten.WithLabels(type.ToWire()).Inc();
        ProfilesReceived.WithLabels(protocol).Inc();
    }

    public void Merged(TimeSpan took, int profiles)
    {
        MergeDuration.Observe(took.TotalSeconds);
        MergedProfiles.Observe(profiles);
    }
}
