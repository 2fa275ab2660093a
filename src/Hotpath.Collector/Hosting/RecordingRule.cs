namespace Hotpath.Collector.Hosting;

/// <summary>
/// One recorded metric (<c>Recording:Rules:N</c>): a selection's value per minute, computed from the pieces and
/// exported on /metrics as <c>hotpath_recorded_value{rule="Name"}</c> and its share of the profile.
/// </summary>
public sealed class RecordingRule
{
    /// <summary>The <c>rule</c> label: letters, digits and underscores, unique among the rules.</summary>
    public string Name { get; set; } = "";

    public string Service { get; set; } = "";

    /// <summary>The profile type (cpu, heap, ...).</summary>
    public string Type { get; set; } = "";

    /// <summary>A Prometheus-style label selector, <c>{version="1.5"}</c>; empty for every profile of the service and type.</summary>
    public string Selector { get; set; } = "";

    /// <summary>A regular expression a function's whole name must match (<c>encoding/json\..*</c>); empty for the whole profile.</summary>
    public string Function { get; set; } = "";

    /// <summary>Count only the functions' own time (samples whose leaf matches), not their callees' too.</summary>
    public bool Self { get; set; }

    /// <summary>The sample type measured (alloc_space, ...); empty for the profile's default.</summary>
    public string SampleType { get; set; } = "";

    /// <summary>The tenant whose profiles the rule reads; empty for the default one.</summary>
    public string Tenant { get; set; } = "";
}
