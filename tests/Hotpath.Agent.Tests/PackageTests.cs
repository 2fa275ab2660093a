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
    public async Task A_fresh_app_restores_the_packed_agent_builds_and_its_first_profile_reaches_a_collector()
    {
        await PackAsync();
        var app = Path.Combine(_root, "app");
        Directory.CreateDirectory(app);
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
            ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        // Restored into a folder of its own, so the machine's package cache never holds this test's Hotpath.Agent;
        // the cache still serves every other package, read-only.
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><add key="local" value="{Packages}" /></packageSources>
              <config><add key="globalPackagesFolder" value="{Path.Combine(_root, "restored")}" /></config>
              <fallbackPackageFolders><add key="machine" value="{cache}" /></fallbackPackageFolders>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "FreshApp.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Hotpath.Agent" Version="0.1.0" />
              </ItemGroup>
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
        var (built, log) = await RunAsync(app, "dotnet", "build", "-c", "Release");
        Assert.True(built == 0, log);

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
        var (code, log) = await RunAsync(TestData.ProjectRoot, "dotnet", "pack", Path.Combine(TestData.ProjectRoot, "src", "Hotpath.Agent", "Hotpath.Agent.csproj"),
            "-c", TestData.Configuration, "--no-build", "-o", Packages);
        Assert.True(code == 0, log);
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string directory, string command, params string[] args)
    {
        var start = new ProcessStartInfo(command, args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
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
