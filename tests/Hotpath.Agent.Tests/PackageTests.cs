using System.Diagnostics;
using System.IO.Compression;
using Hotpath.Testing;

namespace Hotpath.Agent.Tests;

/// <summary>Hotpath.Agent ships as one NuGet package a service can reference, restore, build and run.</summary>
public sealed class PackageTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "hotpath-pack-" + Guid.NewGuid().ToString("N"));

    private string Packages => Path.Combine(_root, "packages");

    [Fact]
    public async Task The_agent_packs_with_its_readme_and_carries_hotpath_pprof_inside()
    {
        await PackAsync();

        using var package = ZipFile.OpenRead(Assert.Single(Directory.GetFiles(Packages, "Hotpath.Agent.*.nupkg")));
        var entries = package.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("README.md", entries);
        Assert.Contains("lib/net10.0/Hotpath.Agent.dll", entries);
        Assert.Contains("lib/net10.0/Hotpath.Pprof.dll", entries);
        using var nuspec = new StreamReader(package.GetEntry("Hotpath.Agent.nuspec")!.Open());
        var manifest = await nuspec.ReadToEndAsync();
        Assert.Contains("<readme>README.md</readme>", manifest);
        // Every dependency is a package the registry serves: none on Hotpath.Pprof, which nothing publishes.
        Assert.DoesNotContain("id=\"Hotpath.Pprof\"", manifest);
        Assert.Contains("id=\"Google.Protobuf\"", manifest);
        Assert.Contains("id=\"Microsoft.Diagnostics.NETCore.Client\"", manifest);
    }

    [Fact]
    public async Task A_new_user_with_an_empty_cache_installs_the_packed_agent_as_the_readme_says_and_its_first_profile_reaches_a_collector()
    {
        await PackAsync();
        var app = Path.Combine(_root, "app");
        Directory.CreateDirectory(app);
        // A new user: a home of their own (NuGet makes its default user config there, with its default feed) and an
        // empty package cache, so every dependency comes from the feed and nothing from this machine's cache.
        var user = new Dictionary<string, string>
        {
            ["HOME"] = Path.Combine(_root, "home"),
            ["NUGET_PACKAGES"] = Path.Combine(_root, "empty-cache"),
        };
        Directory.CreateDirectory(user["HOME"]);
        await File.WriteAllTextAsync(Path.Combine(app, "FreshApp.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            using Hotpath.Agent;

            await using var agent = await HotpathAgent.StartAsync(new HotpathAgentOptions
            {
                CollectorAddress = args[0],
                Service = args[1],
                Types = ProfileKinds.Cpu,
                Window = TimeSpan.FromSeconds(1),
                Interval = TimeSpan.FromSeconds(1),
                MinJitter = TimeSpan.Zero,
                MaxJitter = TimeSpan.Zero,
            });
            var until = DateTime.UtcNow.AddSeconds(60);
            var x = 0UL;
            while (DateTime.UtcNow < until)
                x = x * 31 + 7;
            Console.WriteLine(x);
            """);
        // The README's commands, as they stand.
        var (added, addLog) = await RunAsync(app, user, "dotnet", "nuget", "add", "source", Packages, "--name", "hotpath");
        Assert.True(added == 0, addLog);
        var (installed, installLog) = await RunAsync(app, user, "dotnet", "add", "package", "Hotpath.Agent", "--version", "0.1.0");
        Assert.True(installed == 0, installLog);
        var (built, log) = await RunAsync(app, user, "dotnet", "build", "-c", "Release");
        Assert.True(built == 0, log);
        Assert.True(Directory.Exists(Path.Combine(_root, "empty-cache", "microsoft.diagnostics.netcore.client")), "the dependencies did not come from the feed into the new cache");

        await using var collector = await CollectorInstance.StartAsync();
        var service = CollectorInstance.NewServiceName();
        using var running = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(app, "bin", "Release", "net10.0", "FreshApp.dll"), collector.BaseAddress.ToString(), service])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
        })!;
        try
        {
            await Eventually.TrueAsync(async () => (await collector.FindAllAsync(service)).Count > 0, TimeSpan.FromSeconds(60),
                "the fresh app's first profile never reached the collector");
        }
        finally
        {
            running.Kill();
            await running.WaitForExitAsync();
        }

        Assert.Equal("cpu", (await collector.FindAllAsync(service))[0].GetProperty("type").GetString());
    }

    private async Task PackAsync()
    {
        var (code, log) = await RunAsync(TestData.ProjectRoot, null, "dotnet", "pack", Path.Combine(TestData.ProjectRoot, "src", "Hotpath.Agent", "Hotpath.Agent.csproj"),
            "-c", TestData.Configuration, "--no-build", "-o", Packages);
        Assert.True(code == 0, log);
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string directory, IReadOnlyDictionary<string, string>? environment, string command,
        params string[] args)
    {
        var start = new ProcessStartInfo(command, args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        using var process = Process.Start(start)!;
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var output = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var error = process.StandardError.ReadToEndAsync(deadline.Token);
        await process.WaitForExitAsync(deadline.Token);
        return (process.ExitCode, await output + await error);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }
}
