using Hotpath.Collector.Hosting;

return await CollectorApp.RunAsync(args);
