"""The unreliable link: bit errors on the payload, receiver protections, packets, accuracy under BER, link budget."""
