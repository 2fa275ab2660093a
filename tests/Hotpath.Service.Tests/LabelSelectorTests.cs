using Hotpath.Pprof;
using Hotpath.Service.Query;

namespace Hotpath.Service.Tests;

public sealed class LabelSelectorTests
{
    private static readonly ProfileLabel[] Labels = [new("region", "eu-west"), new("version", "1.4.2")];

    [Theory]
    [InlineData("{version=\"1.4.2\"}", true)]
    [InlineData("{version!=\"1.4.2\"}", false)]
    [InlineData("{version=~\"1\\\\.4.*\"}", true)]
    [InlineData("{version=~\"1\\\\.4\"}", false)] // anchored: the whole value
    [InlineData("{version!~\"2\\\\..*\", region=~\"eu-.*\"}", true)]
    [InlineData("{absent=\"\"}", true)] // a label a profile lacks reads as ""
    [InlineData("{absent!=\"\"}", false)]
    [InlineData("{region='eu-west', version=`1.4.2`}", true)]
    [InlineData("{ region = \"eu-west\" , }", true)]
    [InlineData("{}", true)]
    [InlineData("", true)]
    public void Matchers_compare_the_whole_value_as_prometheus_does(string text, bool matches)
    {
        Assert.Equal(matches, LabelSelector.Parse(text).Matches(Labels));
    }

    [Fact]
    public void The_service_and_profile_type_are_matchers_of_their_own_not_labels()
    {
        var selector = LabelSelector.Parse("{service_name=\"api\", __profile_type__=~\"process_cpu:.*\", region=\"eu-west\"}");

        Assert.Equal("api", selector.Service);
        Assert.True(selector.MatchesService("api"));
        Assert.False(selector.MatchesService("web"));
        Assert.Single(selector.TypeMatchers);
        Assert.Equal([new ProfileLabel("region", "eu-west")], selector.RequiredLabels);
        Assert.True(selector.Matches(Labels));
    }

    [Fact]
    public void Escapes_in_quoted_values_read_as_go_reads_them()
    {
        var selector = LabelSelector.Parse("{path=\"a\\\"b\\\\c\\u00e9\"}");

        Assert.Equal("a\"b\\cé", selector.Matchers[0].Value);
    }

    [Theory]
    [InlineData("service_name=\"api\"", "expected '{'")]
    [InlineData("{1abc=\"x\"}", "expected a label name")]
    [InlineData("{a==\"x\"}", "expected a quoted value")]
    [InlineData("{a<\"x\"}", "expected one of =, !=, =~, !~")]
    [InlineData("{a=\"x\"", "expected '}'")]
    [InlineData("{a=\"x}", "not closed")]
    [InlineData("{a=~\"[\"}", "bad regular expression")]
    public void A_selector_that_does_not_parse_names_what_was_expected(string text, string words)
    {
        var e = Assert.Throws<InvalidRequestException>(() => LabelSelector.Parse(text));
        Assert.Contains(words, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_selector_past_its_bounds_is_refused_before_it_is_read()
    {
        var huge = "{a=\"" + new string('x', LabelSelector.MaxLength) + "\"}";
        var many = "{" + string.Join(",", Enumerable.Range(0, LabelSelector.MaxMatchers + 1).Select(i => $"k{i}=\"v\"")) + "}";

        Assert.Contains("at most", Assert.Throws<InvalidRequestException>(() => LabelSelector.Parse(huge)).Message, StringComparison.Ordinal);
        Assert.Contains("more than", Assert.Throws<InvalidRequestException>(() => LabelSelector.Parse(many)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pattern_that_backtracks_exponentially_elsewhere_matches_a_long_value_in_linear_time()
    {
        var selector = LabelSelector.Parse("{v=~\"(a+)+$\"}");

        Assert.False(selector.Matches([new ProfileLabel("v", new string('a', 100_000) + "b")]));
        Assert.True(selector.Matches([new ProfileLabel("v", new string('a', 100_000))]));
    }
}
