using Hotpath.Collector;

return await CollectorApp.RunAsync(args);
