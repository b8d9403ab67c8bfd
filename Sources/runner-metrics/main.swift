print("runner-metrics")
