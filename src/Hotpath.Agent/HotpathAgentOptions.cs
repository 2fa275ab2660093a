using Microsoft.Extensions.Options;

namespace Hotpath.Agent;

/// <summary>Settings of the in-process agent (section "Hotpath:Agent" when bound from configuration).</summary>
public sealed class HotpathAgentOptions
{
    public const string Section = "Hotpath:Agent";

    public string CollectorAddress { get; set; } = "http://localhost:10100";

    public string Service { get; set; } = "";

    public string? InstanceId { get; set; }

    public Dictionary<string, string> Labels { get; } = [];

    public string? Token { get; set; }

    /// <summary>The collector's tenant the profiles belong to (sent as X-Scope-OrgID); null: the default tenant.</summary>
    public string? Tenant { get; set; }

    /// <summary>The profiles recorded each cycle: cpu, heap, mutex and exceptions (as <c>other</c>) by default; add Wall for wall-clock time, Block for blocking waits.</summary>
    public ProfileKinds Types { get; set; } = ProfileKinds.Default;

    /// <summary>
    /// Labels samples taken inside an <see cref="System.Diagnostics.Activity"/> (a trace span) with <c>span_id</c>,
    /// <c>trace_id</c> and <c>span_name</c> of its local root (Linux).
    /// </summary>
    public bool Spans { get; set; } = true;

    /// <summary>A profile of each type every interval...</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>...recorded for this long: EventPipe sampling costs the app while it runs, so not all the time.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Random delay between these two added to each cycle, so that a fleet does not profile in step.</summary>
    public TimeSpan MinJitter { get; set; } = TimeSpan.FromSeconds(1);

    /// <inheritdoc cref="MinJitter"/>
    public TimeSpan MaxJitter { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Refuses settings the agent cannot run with, naming the setting, at host start.</summary>
public sealed class HotpathAgentOptionsValidator : IValidateOptions<HotpathAgentOptions>
{
    public ValidateOptionsResult Validate(string? name, HotpathAgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.Service.Length == 0)
            failures.Add("Hotpath:Agent:Service is required");
        if (!Uri.TryCreate(options.CollectorAddress, UriKind.Absolute, out _))
            failures.Add("Hotpath:Agent:CollectorAddress must be an absolute URL");
        if (options.Types == ProfileKinds.None || (options.Types & ~ProfileKinds.All) != 0)
            failures.Add("Hotpath:Agent:Types must name Cpu, Heap, Mutex, Exceptions, Wall and/or Block");
        if (options.Window <= TimeSpan.Zero || options.Interval < options.Window)
            failures.Add("Hotpath:Agent:Interval must be at least Window, and Window positive");
        if (options.MinJitter < TimeSpan.Zero || options.MaxJitter < options.MinJitter)
            failures.Add("Hotpath:Agent:MaxJitter must be at least MinJitter, and neither negative");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
