"""The metrics collector that runs beside a trial's training container. Stays light."""
