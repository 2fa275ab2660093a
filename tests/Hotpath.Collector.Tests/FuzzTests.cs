using System.Globalization;
using Hotpath.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Mutated real profiles posted to a real collector, every accepted one then viewed through the UI's tree:
/// no reply may be a 5xx and none may hang (the client's timeout fails the test). A bounded run here;
/// bench/fuzz.sh runs the same test far longer (HOTPATH_FUZZ_MUTATIONS).
/// </summary>
public sealed class FuzzTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private static readonly int Mutations =
        int.TryParse(Environment.GetEnvironmentVariable("HOTPATH_FUZZ_MUTATIONS"), CultureInfo.InvariantCulture, out var n) ? n : 1500;

    private static readonly int Seed =
        int.TryParse(Environment.GetEnvironmentVariable("HOTPATH_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : 20261201;

    [Fact]
    public async Task No_mutation_of_a_real_profile_gets_a_5xx_or_hangs_on_ingest_or_in_the_views()
    {
        var collector = fixture.Collector;
        var service = CollectorInstance.NewServiceName("fuzz");
        var originals = TestData.ValidProfiles.Select(p => (p.Type, Protobuf: ProfileBytes.Plain(p.File))).ToList();
        var mutator = new ProfileMutator(Seed);
        var failures = new List<string>();
        var accepted = 0;

        for (var i = 0; i < Mutations && failures.Count < 10; i++)
        {
            var (type, protobuf) = originals[i % originals.Count];
            var (body, what) = mutator.Mutate(protobuf);
            using var response = await collector.PostAsync($"service={service}&type={type}&created_at=2026-01-01T00:00:00", body);
            if ((int)response.StatusCode >= 500)
                failures.Add($"#{i} {type} {what}: POST {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            else if (response.IsSuccessStatusCode)
                accepted++;
        }

        foreach (var (type, _) in originals.DistinctBy(o => o.Type))
        {
            foreach (var view in new[] { "profile", "diff" })
            {
                using var response = await collector.GetAsync($"/api/0/ui/{view}?service={service}&type={type}&from=2025-12-31T00:00:00&to=2026-01-02T00:00:00");
                if ((int)response.StatusCode >= 500)
                    failures.Add($"{view} of {type}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }

        Assert.True(failures.Count == 0, $"seed {Seed}: " + string.Join("\n", failures));
        Assert.InRange(accepted, 1, Mutations - 1); // some mutants are still valid profiles, most are not
    }
}
