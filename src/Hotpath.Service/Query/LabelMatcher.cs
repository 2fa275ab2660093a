using System.Text.RegularExpressions;

namespace Hotpath.Service.Query;

/// <summary>
/// One matcher of a label selector: a label's value compared with a text or, fully anchored as Prometheus
/// does, with a regular expression that runs in linear time (<see cref="RegexOptions.NonBacktracking"/>: no
/// value can make a pattern such as <c>(a+)+$</c> take long). A label a profile lacks has the value "".
/// </summary>
public sealed class LabelMatcher
{
    private readonly Regex? _regex;

    /// <exception cref="InvalidRequestException">The regular expression does not parse.</exception>
    public LabelMatcher(string name, MatchOperator op, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        (Name, Operator, Value) = (name, op, value);
        if (op is MatchOperator.Regex or MatchOperator.NotRegex)
        {
            try
            {
                _regex = new Regex($"^(?:{value})$", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            }
            catch (ArgumentException e)
            {
                throw new InvalidRequestException($"bad regular expression \"{Shown(value)}\" for label \"{name}\": {e.Message}");
            }
            catch (NotSupportedException e)
            {
                // A linear-time engine bounds its automaton: a pattern past it is refused, never run another way.
                throw new InvalidRequestException($"regular expression for label \"{name}\" too large to match in linear time: {e.Message}");
            }
        }
    }

    private static string Shown(string value) => value.Length > 200 ? value[..200] + "…" : value;

    public string Name { get; }

    public MatchOperator Operator { get; }

    public string Value { get; }

    /// <summary>Whether a label's value (null: the label is absent, read as "") passes.</summary>
    public bool Matches(string? value)
    {
        value ??= "";
        return Operator switch
        {
            MatchOperator.Equal => value == Value,
            MatchOperator.NotEqual => value != Value,
            MatchOperator.Regex => _regex!.IsMatch(value),
            _ => !_regex!.IsMatch(value),
        };
    }

    public override string ToString() => $"{Name}{Operator switch
    {
        MatchOperator.Equal => "=",
        MatchOperator.NotEqual => "!=",
        MatchOperator.Regex => "=~",
        _ => "!~",
    }}\"{Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"";
}
