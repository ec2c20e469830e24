"""Device drivers: card readers and receipt printers, turned into plain events."""
