namespace Hotpath.Collector.Hosting;

/// <summary>Recorded metrics (<c>Recording</c>): rules whose value per minute /metrics exports.</summary>
public sealed class RecordingOptions
{
    public const string Section = "Recording";

    public List<RecordingRule> Rules { get; set; } = [];

    /// <summary>
    /// How long after a minute ends it is measured: agents upload a minute's profile up to this late. The metrics
    /// show the last minute that ended at least this long ago.
    /// </summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(30);
}
