using Hotpath.Pprof;

namespace Hotpath.Service;

/// <summary>What the services count, for whatever exports metrics (the collector's Prometheus registry).</summary>
public interface IServiceMetrics
{
    /// <summary>A profile received by <paramref name="protocol"/> was stored.</summary>
    void ProfileStored(string protocol, ProfileType type);

    /// <summary>A merge of <paramref name="profiles"/> stored profiles (or pieces holding them) took <paramref name="took"/>.</summary>
    void Merged(TimeSpan took, int profiles);
}
