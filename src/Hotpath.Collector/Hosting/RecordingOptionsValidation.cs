using System.Text.RegularExpressions;
using Hotpath.Pprof;
using Hotpath.Service;
using Hotpath.Service.Query;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Hosting;

/// <summary>Refuses at start a rule that could never be measured: no name or one used twice, no service, an unknown type, a selector or pattern that does not parse.</summary>
public sealed partial class RecordingOptionsValidation : IValidateOptions<RecordingOptions>
{
    public ValidateOptionsResult Validate(string? name, RecordingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (options.Delay < TimeSpan.Zero)
            failures.Add($"Recording:Delay {options.Delay} is negative");
        for (var i = 0; i < options.Rules.Count; i++)
        {
            var rule = options.Rules[i];
            var where = $"Recording:Rules:{i}";
            if (!RuleName().IsMatch(rule.Name))
                failures.Add($"{where}:Name \"{rule.Name}\" is not letters, digits and underscores");
            else if (!names.Add(rule.Name))
                failures.Add($"{where}:Name \"{rule.Name}\" names another rule too");
            if (rule.Service.Length == 0)
                failures.Add($"{where}:Service is missing");
            if (!ProfileTypes.TryParse(rule.Type, out _))
                failures.Add($"{where}:Type \"{rule.Type}\" is not a type; the types are {ProfileTypes.Listed}");
            try
            {
                LabelSelector.Parse(rule.Selector);
                if (rule.Function.Length > 0)
                    _ = new Regex(rule.Function, RegexOptions.None, TimeSpan.FromSeconds(1));
                TenantName.Parse(rule.Tenant, $"{where}:Tenant");
            }
            catch (Exception e) when (e is InvalidRequestException or ArgumentException)
            {
                failures.Add($"{where}: {e.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex RuleName();
}
